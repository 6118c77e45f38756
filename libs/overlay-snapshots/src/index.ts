export { type ArchiveLimits, DEFAULT_LIMITS } from './archive-guard.js';
export {
  type BaseImageResult,
  type BaseImageSpec,
  defaultBaseImages,
  ensureBaseImages,
  LayerBuilder,
} from './base-images.js';
export { measureImport, measureSnapshotCycle, type SnapshotCycleStats } from './bench/snapshot-bench.js';
export {
  CODE_LIMITS,
  type CodeArchiveFormat,
  type CodeLayer,
  detectFormat,
  importCodeArchive,
} from './code-archive.js';
export { type DepsRuntime, type DepsSpec, depsKey, depsSpec, readManifestFiles } from './deps-key.js';
export { diskUsage, type Usage } from './disk-usage.js';
export { type GcOptions, type GcResult, gc } from './gc.js';
export {
  DOCKER_HUB,
  formatReference,
  type ImageReference,
  parseReference,
  pinReference,
} from './image-reference.js';
export {
  type Image,
  type ImageConfig,
  type ImageSource,
  ImageStore,
  type LayerBlob,
  normalizeRef,
} from './image-store.js';
export { type LayerInfo, LayerStore, type LayerStoreOptions, type StagedLayer } from './layer-store.js';
export { type Lease, LeaseManager } from './leases.js';
export { readImageArchive } from './oci-import.js';
export { chainIDs, OverlaySnapshotter, type OverlaySnapshotterOptions } from './overlay-snapshotter.js';
export { namespaceCredentials, parseDockerConfig, type RegistryCredentials } from './registry-auth.js';
export {
  type Descriptor,
  RegistryClient,
  type RegistryClientOptions,
  type ResolvedImage,
  registryRefusal,
} from './registry-client.js';
export { parseMirrors, type RegistryConfig, registryConfigFromEnv, registryEnv } from './registry-config.js';
export { ImagePuller, type LayerWatcher, type PullHooks } from './registry-pull.js';
export { pushImage } from './registry-push.js';
export { SnapshotService, type SnapshotServiceOptions } from './snapshot-service.js';
export type { PrepareOptions, SnapshotInfo, SnapshotKind, Snapshotter } from './snapshotter.js';
export { type TarEntry, type TarEntryType, TarReader } from './tar-reader.js';
export { type TarWriteEntry, TarWriter } from './tar-writer.js';
export { type FsOp, type FsOps, PythonFsOps } from './whiteout.js';
