/*
 * floe-shim: the only native code of the Floe runtime.
 *
 * floe_spawn() clone3()s the (multithreaded) Node process fork-style and runs a flat op
 * program, precomputed in TypeScript, in the child between clone and execveat. The child is
 * async-signal-safe: raw syscalls only, no malloc, no stdio. A failed op writes
 * {op index, errno} to the CLOEXEC status pipe and _exit()s; the parent names the op.
 *
 * The reaper thread epoll()s pidfds and reports exits as fixed-size records on a pipe that
 * Node reads with a net.Socket, so no libuv pool thread is pinned per container.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* A failed spawn returns -(errno + step): which of its parent-side steps failed. */
#define SPAWN_STEP_UID_MAP 4096
#define SPAWN_STEP_GID_MAP 8192
#define SPAWN_STEP_EXEC 12288

#include "ops.c"

/* Every handler back to SIG_DFL (Node ignores SIGPIPE; SIG_IGN would survive execve). */
static void reset_signal_handlers(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
}

#if defined(__x86_64__)
/*
 * clone3 on a caller-provided stack: the child calls fn(arg) there and exits with its
 * return value. syscall(2) cannot do this (the child would return into the parent's
 * frame), hence the trampoline. r8/r9 survive the syscall instruction in both tasks.
 */
long floe_clone3_fn(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".text\n"
        ".globl floe_clone3_fn\n"
        ".hidden floe_clone3_fn\n"
        ".type floe_clone3_fn,@function\n"
        "floe_clone3_fn:\n"
        "  mov %rdx, %r8\n"
        "  mov %rcx, %r9\n"
        "  mov $435, %eax\n" /* SYS_clone3 */
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"
        "  mov %r9, %rdi\n"
        "  call *%r8\n"
        "  mov %eax, %edi\n"
        "  mov $60, %eax\n" /* SYS_exit */
        "  syscall\n"
        "  hlt\n"
        "1: ret\n"
        ".size floe_clone3_fn, .-floe_clone3_fn\n");

struct exec_child {
  int init_fd;
  const int32_t *keep;
  uint32_t nkeep;
  char **argv, **envp;
  int gate, gate_w; /* user namespace: the pipe that says the id maps are written, else -1 */
  int err;  /* written by the child (shared memory), read by the parent after it resumes */
};

/* Raw syscalls for a CLONE_VM child that runs beside its parent: libc's wrappers would write
 * errno into the parent thread's TLS (the child has no TLS of its own). */
static inline long raw_syscall(long n, long a, long b, long c, long d, long e) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
  return r;
}

/*
 * The user-namespace variant of the child below (CLONE_VM without CLONE_VFORK: the parent
 * writes the id maps meanwhile). Once they are written it becomes root of the namespace, so
 * that the exec keeps every capability there, and execs floe-init's setup stage.
 */
static int exec_setup_child_userns(struct exec_child *a) {
  struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } dfl = {SIG_DFL, 0, NULL, 0};
  for (long s = 1; s < 65; s++)
    if (s != SIGKILL && s != SIGSTOP) raw_syscall(SYS_rt_sigaction, s, (long)&dfl, 0, 8, 0);
  char b;
  raw_syscall(SYS_close, a->gate_w, 0, 0, 0, 0); /* our copy: the parent's close must mean EOF */
  if (raw_syscall(SYS_read, a->gate, (long)&b, 1, 0, 0) != 1) { a->err = ECHILD; return 127; }
  long r = raw_syscall(SYS_setresgid, 0, 0, 0, 0, 0);
  if (r == 0) r = raw_syscall(SYS_setresuid, 0, 0, 0, 0, 0);
  for (uint32_t i = 0; r == 0 && i < a->nkeep; i++) r = raw_syscall(SYS_fcntl, a->keep[i], F_SETFD, 0, 0, 0);
  if (r == 0)
    r = raw_syscall(SYS_execveat, a->init_fd, (long)"", (long)a->argv, (long)a->envp, AT_EMPTY_PATH);
  a->err = (int)-r;
  return 127;
}

/* Runs in the CLONE_VM|CLONE_VFORK child on its own stack while the parent thread sleeps. */
static int exec_setup_child(void *p) {
  struct exec_child *a = p;
  if (a->gate >= 0) return exec_setup_child_userns(a);
  reset_signal_handlers();
  for (uint32_t i = 0; i < a->nkeep; i++)
    if (fcntl(a->keep[i], F_SETFD, 0) < 0) { a->err = errno; return 127; }
  syscall(SYS_execveat, a->init_fd, "", a->argv, a->envp, AT_EMPTY_PATH);
  a->err = errno;
  return 127;
}

/*
 * vfork-style spawn: the child shares Node's memory only until it execs floe-init's setup
 * stage (first environment entry FLOE_SETUP=<memfd>,<sync>,<status>), which reads the program from a memfd and runs it. Nothing
 * of Node's address space is copied (page tables, later COW faults, teardown at exec), which
 * is most of a fork-style spawn's cost for a large process.
 */
static int write_id_maps(long pid, const char *uid_map, const char *gid_map);

static long spawn_exec(void *prog, uint32_t len, struct clone_args *args, int init_fd,
                       const int32_t *keep, uint32_t nkeep, int sync_r, int status_w,
                       const char *uid_map, const char *gid_map) {
  int mfd = (int)syscall(SYS_memfd_create, "floe-op-program", MFD_CLOEXEC);
  if (mfd < 0) return -errno;
  for (uint32_t off = 0; off < len;) {
    ssize_t w = write(mfd, (char *)prog + off, len - off);
    if (w < 0) { if (errno == EINTR) continue; int e = errno; close(mfd); return -e; }
    off += (uint32_t)w;
  }
  int32_t fds[64 + 3];
  if (nkeep > 64) { close(mfd); return -E2BIG; }
  memcpy(fds, keep, nkeep * sizeof *keep);
  fds[nkeep++] = mfd;
  fds[nkeep++] = sync_r;
  fds[nkeep++] = status_w;
  /*
   * The setup stage continues as PID 1 without exec'ing floe-init again, so it is started
   * with the argv and environment of the program's final execveat (what /proc/1/cmdline and
   * environ showed before), plus one leading FLOE_SETUP entry naming its fds. The strings
   * stay in the caller's program buffer, alive until this call returns.
   */
  char setup_env[64];
  snprintf(setup_env, sizeof setup_env, "FLOE_SETUP=%d,%d,%d", mfd, sync_r, status_w);
  uint64_t *pargv = NULL, *penvp = NULL;
  uint32_t nops = ((uint32_t *)prog)[1];
  for (uint32_t i = 0; i < nops && 16 + (uint64_t)(i + 1) * 64 <= len; i++) {
    uint64_t *w = (uint64_t *)((char *)prog + 16 + (size_t)i * 64);
    if ((uint32_t)w[0] == OP_EXECVEAT && w[3] < len && w[4] < len) {
      pargv = (uint64_t *)((char *)prog + w[3]);
      penvp = (uint64_t *)((char *)prog + w[4]);
    }
  }
  size_t na = 0, ne = 0;
  if (pargv)
    while (pargv[na]) na++;
  if (penvp)
    while (penvp[ne]) ne++;
  char **argv = malloc((na + 2) * sizeof *argv), **envp = malloc((ne + 2) * sizeof *envp);
  if (!argv || !envp) { free(argv); free(envp); close(mfd); return -ENOMEM; }
  argv[0] = "floe-init";
  for (size_t i = 0; i < na; i++) argv[i] = (char *)prog + pargv[i];
  argv[na ? na : 1] = NULL;
  envp[0] = setup_env;
  for (size_t i = 0; i < ne; i++) envp[i + 1] = (char *)prog + penvp[i];
  envp[ne + 1] = NULL;
  /*
   * With a user namespace the child must wait for its id maps before the exec, so the parent
   * cannot sleep in CLONE_VFORK: it writes the maps, opens the gate, and waits for EOF on
   * `done` (CLOEXEC, its write end held by the child alone) instead. The child's stack is
   * still this frame's, which outlives the child's use of it either way.
   */
  int userns = uid_map != NULL, gate[2] = {-1, -1}, done[2] = {-1, -1};
  if (userns && (pipe2(gate, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0)) {
    int e = errno;
    for (int i = 0; i < 2; i++) { if (gate[i] >= 0) close(gate[i]); if (done[i] >= 0) close(done[i]); }
    free(argv); free(envp); close(mfd);
    return -e;
  }
  struct exec_child c = {init_fd, fds, nkeep, argv, envp, gate[0], gate[1], 0};
  char cstack[32 * 1024] __attribute__((aligned(16)));
  args->flags |= userns ? CLONE_VM : CLONE_VM | CLONE_VFORK;
  args->stack = (uint64_t)(uintptr_t)cstack;
  args->stack_size = sizeof cstack;
  /* The child must run no Node handler on shared memory: block everything across clone. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = floe_clone3_fn(args, sizeof *args, exec_setup_child, &c);
  int e = pid < 0 ? (int)-pid : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  int map_err = 0;
  if (userns) {
    close(gate[0]);
    close(done[1]);
    if (pid > 0) {
      map_err = write_id_maps(pid, uid_map, gid_map);
      if (!map_err && write(gate[1], "m", 1) != 1) map_err = errno;
    }
    close(gate[1]); /* EOF: a child still waiting gives up */
    char b;
    while (pid > 0 && (read(done[0], &b, 1) < 0 && errno == EINTR)) {}
    close(done[0]);
  }
  free(argv);
  free(envp);
  close(mfd);
  if (pid < 0) return -e;
  if (map_err || c.err) {
    /* The child exited without exec'ing: reap it and report why. */
    siginfo_t si;
    int pidfd = *(int *)(uintptr_t)args->pidfd;
    syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL);
    close(pidfd);
    return map_err ? -map_err : -(c.err + SPAWN_STEP_EXEC);
  }
  return pid;
}
#endif

/*
 * Writes /proc/<pid>/uid_map then gid_map; 0, or errno + SPAWN_STEP_UID_MAP/GID_MAP (the
 * spawn's negative result names the step: see NativeSyscalls.spawn).
 */
static int write_id_maps(long pid, const char *uid_map, const char *gid_map) {
  const char *files[2] = {"uid_map", "gid_map"};
  const char *maps[2] = {uid_map, gid_map};
  const int steps[2] = {SPAWN_STEP_UID_MAP, SPAWN_STEP_GID_MAP};
  char path[64];
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/proc/%ld/%s", pid, files[i]);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno + steps[i];
    size_t n = strlen(maps[i]);
    int err = write(fd, maps[i], n) == (ssize_t)n ? 0 : errno ? errno : EIO;
    close(fd);
    if (err) return err + steps[i];
  }
  return 0;
}

/*
 * Clones a child that runs `prog`. With init_fd >= 0 (x86-64), vfork-style: the child execs
 * floe-init's setup stage right away, keeping the fds in keep[] (the program's stdio and
 * init_fd) open across that exec; otherwise fork-style, running the program in the copy of
 * Node. With uid_map/gid_map (CLONE_NEWUSER in flags) the shim writes the id maps itself
 * before returning; vfork-style, the child waits for them and becomes root of its namespace
 * before that exec (an exec before would drop every capability), sharing Node's memory
 * meanwhile on a stack of its own, so a large agent's page tables are not copied.
 * out[0]=pidfd, out[1]=sync pipe write end (one byte per OP_WAIT releases the child),
 * out[2]=status pipe read end (EOF = exec'd floe-init or died; an 8-byte {index, errno}
 * record = op failed; {-1,0} = OP_READY reached). Returns the pid or -errno.
 */
int floe_spawn(void *prog, uint32_t len, uint64_t flags, int cgroup_fd, int init_fd,
               const int32_t *keep, uint32_t nkeep, const char *uid_map, const char *gid_map,
               int32_t *out) {
  if ((uid_map == NULL) != (gid_map == NULL) || (uid_map && !(flags & CLONE_NEWUSER))) return -EINVAL;
  if (len < 16 || ((uint32_t *)prog)[0] != MAGIC) return -EINVAL;
  int sync[2], status[2];
  if (pipe2(sync, O_CLOEXEC) < 0) return -errno;
  if (pipe2(status, O_CLOEXEC) < 0) { int e = errno; close(sync[0]); close(sync[1]); return -e; }
  int pidfd = -1;
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) { args.flags |= CLONE_INTO_CGROUP; args.cgroup = (uint64_t)cgroup_fd; }
  long pid;
  int e = 0;
#if defined(__x86_64__)
  if (init_fd >= 0) {
    pid = spawn_exec(prog, len, &args, init_fd, keep, nkeep, sync[0], status[1], uid_map, gid_map);
    if (pid < 0) { e = (int)-pid; pid = -1; }
  } else
#endif
  {
    (void)init_fd; (void)keep; (void)nkeep;
    pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
      /* Child: a single-threaded copy of Node. Reset Node's handlers, and block every signal
         through execve: floe-init inherits the mask, so a signal sent right after start is
         queued for its sigwait loop instead of being dropped (PID 1 ignores SIG_DFL signals). */
      sigset_t all;
      sigfillset(&all);
      reset_signal_handlers();
      sigprocmask(SIG_SETMASK, &all, NULL);
      close(sync[1]);
      close(status[0]);
      int failed = -1;
      int r = run_program((char *)prog, sync[0], status[1], &failed);
      int32_t rec[2] = {failed, r < 0 ? -r : ENOEXEC};
      write_all(status[1], rec, sizeof rec);
      _exit(127);
    }
    if (pid < 0) e = errno;
    /* Fork-style, the program's first OP_WAIT holds the child until the caller releases it. */
    if (pid > 0 && uid_map) {
      int map_err = write_id_maps(pid, uid_map, gid_map);
      if (map_err) {
        siginfo_t si;
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL);
        close(pidfd);
        pid = -1;
        e = map_err;
      }
    }
  }
  close(sync[0]);
  close(status[1]);
  if (pid < 0) { close(sync[1]); close(status[0]); return -e; }
  out[0] = pidfd;
  out[1] = sync[1];
  out[2] = status[0];
  return (int)pid;
}

/* ---- reaper ---- */

struct exit_rec { uint32_t token; int32_t code; int32_t status; int32_t pid; };

static int reaper_epfd = -1, reaper_out = -1;

static void *reaper_main(void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(reaper_epfd, evs, 64, -1);
    if (n < 0) { if (errno == EINTR) continue; return NULL; }
    for (int i = 0; i < n; i++) {
      int fd = (int)(evs[i].data.u64 & 0xffffffffu);
      uint32_t token = (uint32_t)(evs[i].data.u64 >> 32);
      siginfo_t si;
      memset(&si, 0, sizeof si);
      if (syscall(SYS_waitid, P_PIDFD, fd, &si, WEXITED | WNOHANG | __WALL, NULL) < 0) {
        struct exit_rec rec = {token, -1, errno, 0};
        epoll_ctl(reaper_epfd, EPOLL_CTL_DEL, fd, NULL);
        write_all(reaper_out, &rec, sizeof rec);
        continue;
      }
      if (si.si_pid == 0) continue; /* spurious */
      epoll_ctl(reaper_epfd, EPOLL_CTL_DEL, fd, NULL);
      struct exit_rec rec = {token, si.si_code, si.si_status, si.si_pid};
      write_all(reaper_out, &rec, sizeof rec);
    }
  }
}

/* Starts the reaper thread once; returns the read end of its record pipe. */
int floe_reaper_start(void) {
  static int started = 0, rd = -1;
  if (started) return rd;
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -errno;
  reaper_epfd = epoll_create1(EPOLL_CLOEXEC);
  if (reaper_epfd < 0) return -errno;
  reaper_out = p[1];
  pthread_t t;
  int e = pthread_create(&t, NULL, reaper_main, NULL);
  if (e) return -e;
  pthread_detach(t);
  started = 1;
  rd = p[0];
  return rd;
}

/* Watches a pidfd; the caller keeps owning it and closes it after the exit record. */
int floe_reaper_watch(int pidfd, uint32_t token) {
  struct epoll_event ev;
  ev.events = EPOLLIN;
  ev.data.u64 = ((uint64_t)token << 32) | (uint32_t)pidfd;
  return epoll_ctl(reaper_epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0 ? -errno : 0;
}

/* ---- small wrappers so TypeScript needs no variadic syscall() ---- */

int floe_pidfd_open(int pid) {
  long r = syscall(SYS_pidfd_open, pid, 0);
  return r < 0 ? -errno : (int)r;
}

int floe_pidfd_send_signal(int pidfd, int sig) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

/* pipe2(O_CLOEXEC); out[0] read end, out[1] write end. */
int floe_pipe(int32_t *out) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -errno;
  out[0] = p[0];
  out[1] = p[1];
  return 0;
}

/* Host-side mounts for the node-agent (e.g. a shared dir whose submounts propagate in). */
int floe_mount(const char *src, const char *tgt, const char *type, unsigned long flags, const char *data) {
  return mount(src, tgt, type, flags, data) < 0 ? -errno : 0;
}

int floe_umount2(const char *tgt, int flags) {
  return umount2(tgt, flags) < 0 ? -errno : 0;
}

/* flock(2) with LOCK_EX | LOCK_NB: 0 when taken, -EWOULDBLOCK when another open file holds it. */
int floe_flock_try(int fd) {
  return flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
}

int floe_mkfifo(const char *path, unsigned mode) {
  return mkfifo(path, mode) < 0 ? -errno : 0;
}

/* Holds a fresh user namespace open until the parent closes the pipe's write end (its own
 * copy of which, from the copied fd table, it closes first). */
static int userns_hold(void *p) {
  char c;
  syscall(SYS_close, ((int *)p)[1]);
  syscall(SYS_read, ((int *)p)[0], &c, 1);
  return 0;
}

/*
 * A user namespace with the given maps, held only by the returned fd: a child enters it and
 * blocks on a pipe while the parent writes its maps and opens /proc/<pid>/ns/user, then exits.
 * The fd is what MOUNT_ATTR_IDMAP takes; the namespace lives as long as the fd. On x86-64 the
 * child shares Node's memory on a stack of its own (CLONE_VM, raw syscalls only, every signal
 * blocked), so nothing is copied: a fork of the agent costs milliseconds in page tables.
 */
int floe_userns_fd(const char *uid_map, const char *gid_map) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -errno;
  long pid;
#if defined(__x86_64__)
  size_t stack_size = 64 * 1024;
  void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) { int e = errno; close(p[0]); close(p[1]); return -e; }
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_VM | CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  args.stack = (uint64_t)(uintptr_t)stack;
  args.stack_size = stack_size;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = floe_clone3_fn(&args, sizeof args, userns_hold, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) { munmap(stack, stack_size); close(p[0]); close(p[1]); return (int)pid; }
#else
  pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) { int e = errno; close(p[0]); close(p[1]); return -e; }
  if (pid == 0) {
    char c;
    syscall(SYS_close, p[1]);
    syscall(SYS_read, p[0], &c, 1);
    syscall(SYS_exit, 0);
  }
#endif
  int err = 0, ns = -1;
  char path[64];
  const char *files[2] = {"uid_map", "gid_map"};
  const char *maps[2] = {uid_map, gid_map};
  for (int i = 0; i < 2 && !err; i++) {
    snprintf(path, sizeof path, "/proc/%ld/%s", pid, files[i]);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) { err = errno; break; }
    size_t n = strlen(maps[i]);
    if (write(fd, maps[i], n) != (ssize_t)n) err = errno ? errno : EIO;
    close(fd);
  }
  if (!err) {
    snprintf(path, sizeof path, "/proc/%ld/ns/user", pid);
    ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) err = errno;
  }
  close(p[1]);
  while (waitpid((pid_t)pid, NULL, __WALL) < 0 && errno == EINTR) {}
  close(p[0]);
#if defined(__x86_64__)
  munmap(stack, stack_size);
#endif
  return err ? -err : ns;
}

/*
 * An idmapped, detached clone of `src` (open_tree + mount_setattr MOUNT_ATTR_IDMAP with
 * `userns_fd`, plus `attr`), attached at `tgt` with move_mount. The files stay where they
 * are: only the mount translates their owners.
 */
int floe_mount_idmapped(const char *src, const char *tgt, int userns_fd, uint64_t attr) {
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) return -errno;
  struct mount_attr a;
  memset(&a, 0, sizeof a);
  a.attr_set = MOUNT_ATTR_IDMAP | attr;
  a.userns_fd = (uint64_t)userns_fd;
  int r = 0;
  /* -(errno + 4096 * step) names the failing step: 0 open_tree, 1 mount_setattr, 2 move_mount. */
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof a) < 0) r = -(errno + 4096);
  else if (syscall(SYS_move_mount, fd, "", AT_FDCWD, tgt, MOVE_MOUNT_F_EMPTY_PATH) < 0) r = -(errno + 8192);
  close(fd);
  return r;
}

/* rtnetlink transport; messages are built and parsed in TypeScript. */
int floe_nl_open(int protocol) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { int e = errno; close(fd); return -e; }
  return fd;
}

int floe_nl_send(int fd, const void *buf, uint32_t len) {
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  return sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : 0;
}

/* rtnetlink answers in the sender's context, so the ack is queued before send returns. */
int floe_nl_recv(int fd, void *buf, uint32_t len) {
  ssize_t n = recv(fd, buf, len, 0);
  return n < 0 ? -errno : (int)n;
}
