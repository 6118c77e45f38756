/**
 * The OpenFaaS FunctionDeployment, as users send it. Fields are stored and echoed back as
 * sent: an absent field stays absent. Floe's own additions (runtime, handler, code) let a
 * user deploy code instead of an image.
 */
export interface FunctionDeployment {
  service: string;
  image?: string;
  namespace?: string;
  envProcess?: string;
  envVars?: Record<string, string>;
  constraints?: string[];
  secrets?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  limits?: FunctionResources;
  requests?: FunctionResources;
  readOnlyRootFilesystem?: boolean;
  /** Floe: the runtime that runs `code` (node, python, exec) or `image` for an imported image. */
  runtime?: RuntimeName;
  /** Floe: handler entry, e.g. `index.js` or `handler.handle`; for exec, the fprocess. */
  handler?: string;
  /** Floe: base64 archive (zip, tar or tar.gz) with the function code. */
  code?: string;
}

export interface FunctionResources {
  memory?: string;
  cpu?: string;
}

export type RuntimeName = 'node' | 'python' | 'exec' | 'image';
export const RUNTIMES: readonly RuntimeName[] = ['node', 'python', 'exec', 'image'];

/** What GET /system/functions returns per function (OpenFaaS FunctionStatus). */
export interface FunctionStatus extends Omit<FunctionDeployment, 'code'> {
  name: string;
  namespace: string;
  replicas: number;
  availableReplicas: number;
  invocationCount: number;
  createdAt?: string;
  /** Floe: the active version number. */
  version?: number;
  /**
   * Floe, in a deploy's answer only: whether the dependencies layer was `installed` for this
   * deploy or `cached` (reused, no install); absent when the code brings no lockfile.
   */
  dependencies?: 'installed' | 'cached';
}

/**
 * An immutable deployed version. The agent gets everything it needs to start an instance
 * from here: which layers to mount and how to run them.
 */
export interface FunctionVersion {
  name: string;
  namespace: string;
  version: number;
  createdAt: string;
  deployment: Omit<FunctionDeployment, 'code'>;
  runtime: RuntimeName;
  /** Image ref (imported or base image) whose layers form the rootfs. */
  image: string;
  /**
   * sha256 of the code archive (stored in Redis under `floe:code:<sha>`); the agent imports
   * it as a layer mounted read-only at /code. Absent for image functions.
   */
  codeDigest?: string;
  /**
   * Key of the dependencies layer built from the code's lockfile (overlay-snapshots deps-key.ts): the agent
   * overlays the code layer on it at /code. Absent when the code brings no lockfile.
   */
  depsKey?: string;
  /** For images uploaded to the gateway: path of the saved tar, importable by agents on this host. */
  imageArchive?: string;
  /**
   * For registry images: `image` resolved at deploy and pinned to the digest it named then
   * (`registry/repo@sha256:...`). Agents pull and run exactly this, even if the tag moves.
   */
  imagePinned?: string;
  handler?: string;
  memoryBytes: number;
  cpuMillis?: number;
  timeoutMs: number;
  maxConcurrency: number;
  minScale: number;
  maxScale: number;
  env: Record<string, string>;
  secrets: string[];
  /** Annotation `com.floe.api-key`: when set, invocations must carry it. */
  apiKeyHash?: string;
}

export const LABEL_SCALE_MIN = 'com.openfaas.scale.min';
export const LABEL_SCALE_MAX = 'com.openfaas.scale.max';
/** OpenFaaS's opt-in to scale to zero (`true`), after `zero-duration` without calls. */
export const LABEL_SCALE_ZERO = 'com.openfaas.scale.zero';
export const LABEL_SCALE_ZERO_DURATION = 'com.openfaas.scale.zero-duration';
/** What OpenFaaS starts when a function names no min scale. */
export const DEFAULT_MIN_SCALE = 1;
export const ANNOTATION_API_KEY = 'com.floe.api-key';
export const ANNOTATION_TIMEOUT = 'com.floe.timeout';
export const ANNOTATION_CONCURRENCY = 'com.floe.max-concurrency';

/** Function names follow DNS-1123 labels, as in OpenFaaS on Kubernetes. */
export const FUNCTION_NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
