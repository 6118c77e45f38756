/*
 * The op interpreter: runs a flat op program, precomputed in TypeScript, between clone and
 * execveat. Included by floe-shim.c (fork path, user namespaces) and by floe-init.c (setup
 * stage of the vfork+exec path), so both paths run the very same code. Async-signal-safe:
 * raw syscalls and libc wrappers only, no malloc, no stdio.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Keep in sync with src/spawn/op-program.ts. */
enum {
  OP_WAIT = 1, OP_READY, OP_MKDIR, OP_MOUNT, OP_UMOUNT, OP_TOUCH, OP_SYMLINK, OP_PIVOT,
  OP_CHDIR, OP_SETHOSTNAME, OP_LO_UP, OP_RLIMIT, OP_WRITE_FILE, OP_SETRESUID, OP_SETRESGID,
  OP_SETGROUPS, OP_PRCTL, OP_BSET_KEEP, OP_CAPSET, OP_AMBIENT, OP_SECCOMP, OP_DUP2,
  OP_CLOEXEC_FROM, OP_SETSID, OP_EXECVEAT, OP_UNSHARE, OP_OPEN_NULL_STDIO, OP_OPEN_REG, OP_WAIT_REG, OP_NET_CONFIG, OP_SETNS
};
#define OPF_IGNORE_ENOENT 1u
#define OPF_IGNORE_ALL 2u

#define MAGIC 0x464c4f45u /* "FLOE" */

struct op { uint64_t w[8]; };

/* Child-local fd registers (the child owns a private copy of this array after clone). */
static int regs[8];

static char *str(char *base, uint64_t off) { return off ? base + off : NULL; }

static int mkdir_p(const char *path, mode_t mode) {
  char buf[4096];
  size_t n = strlen(path);
  if (n >= sizeof buf) return -ENAMETOOLONG;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == 0) {
      char c = buf[i];
      buf[i] = 0;
      if (mkdir(buf, mode) < 0 && errno != EEXIST) return -errno;
      buf[i] = c;
    }
  }
  return 0;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0) { if (errno == EINTR) continue; return -errno; }
    c += w; n -= (size_t)w;
  }
  return 0;
}

/* Runs in the child. Returns 0 or -errno; *failed gets the failing op index. */
static int run_program(char *base, int sync_r, int status_w, int *failed) {
  uint32_t nops = ((uint32_t *)base)[1];
  struct op *ops = (struct op *)(base + 16);
  for (uint32_t i = 0; i < nops; i++) {
    uint64_t *w = ops[i].w;
    uint32_t code = (uint32_t)w[0], flags = (uint32_t)(w[0] >> 32);
    long r = 0;
    *failed = (int)i;
    switch (code) {
    case OP_WAIT: {
      char b;
      ssize_t n;
      do n = read(sync_r, &b, 1); while (n < 0 && errno == EINTR);
      if (n != 1) _exit(126); /* the parent went away or gave up: die quietly */
      break;
    }
    case OP_READY: {
      int32_t rec[2] = {-1, 0};
      r = write_all(status_w, rec, sizeof rec);
      if (r < 0) { errno = (int)-r; r = -1; }
      break;
    }
    case OP_MKDIR: r = mkdir_p(str(base, w[1]), (mode_t)w[2]); if (r < 0) { errno = (int)-r; r = -1; } break;
    case OP_MOUNT:
      r = mount(str(base, w[1]), str(base, w[2]), str(base, w[3]), (unsigned long)w[4], str(base, w[5]));
      break;
    case OP_UMOUNT: r = umount2(str(base, w[1]), (int)w[2]); break;
    case OP_TOUCH: {
      int fd = open(str(base, w[1]), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, (mode_t)w[2]);
      if (fd < 0) r = -1; else close(fd);
      break;
    }
    case OP_SYMLINK:
      r = symlink(str(base, w[1]), str(base, w[2]));
      if (r < 0 && errno == EEXIST) r = 0;
      break;
    case OP_PIVOT:
      /* pivot_root(".", ".") stacks the old root under the new one; detach it right away. */
      r = chdir(str(base, w[1]));
      if (!r) r = syscall(SYS_pivot_root, ".", ".");
      if (!r) r = umount2(".", MNT_DETACH);
      if (!r) r = chdir("/");
      break;
    case OP_CHDIR: r = chdir(str(base, w[1])); break;
    case OP_SETHOSTNAME: r = sethostname(str(base, w[1]), (size_t)w[2]); break;
    case OP_LO_UP: {
      int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s < 0) { r = -1; break; }
      struct ifreq ifr;
      memset(&ifr, 0, sizeof ifr);
      memcpy(ifr.ifr_name, "lo", 3);
      r = ioctl(s, SIOCGIFFLAGS, &ifr);
      if (!r) { ifr.ifr_flags |= IFF_UP | IFF_RUNNING; r = ioctl(s, SIOCSIFFLAGS, &ifr); }
      int e = errno; close(s); errno = e;
      break;
    }
    case OP_RLIMIT: {
      struct rlimit rl = {(rlim_t)w[2], (rlim_t)w[3]};
      r = setrlimit((int)w[1], &rl);
      break;
    }
    case OP_WRITE_FILE: {
      int fd = open(str(base, w[1]), O_WRONLY | O_CLOEXEC);
      if (fd < 0) { r = -1; break; }
      r = write_all(fd, str(base, w[2]), (size_t)w[3]);
      close(fd);
      if (r < 0) { errno = (int)-r; r = -1; }
      break;
    }
    case OP_SETRESUID: r = syscall(SYS_setresuid, (uid_t)w[1], (uid_t)w[1], (uid_t)w[1]); break;
    case OP_SETRESGID: r = syscall(SYS_setresgid, (gid_t)w[1], (gid_t)w[1], (gid_t)w[1]); break;
    case OP_SETGROUPS: r = syscall(SYS_setgroups, (size_t)w[2], (gid_t *)str(base, w[1])); break;
    case OP_PRCTL: r = prctl((int)w[1], w[2], w[3], w[4], w[5]); break;
    case OP_BSET_KEEP:
      for (int c = 0; c < 64; c++) {
        if (w[1] & (1ull << c)) continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
          if (errno == EINVAL) break; /* past the kernel's last capability: so is every later one */
          r = -1;
          break;
        }
      }
      break;
    case OP_CAPSET: {
      struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
      struct __user_cap_data_struct d[2];
      for (int k = 0; k < 2; k++) {
        d[k].effective = (uint32_t)(w[1] >> (32 * k));
        d[k].permitted = (uint32_t)(w[2] >> (32 * k));
        d[k].inheritable = (uint32_t)(w[3] >> (32 * k));
      }
      r = syscall(SYS_capset, &h, d);
      break;
    }
    case OP_AMBIENT:
      for (int c = 0; c < 64; c++) {
        if (!(w[1] & (1ull << c))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) { r = -1; break; }
      }
      break;
    case OP_SECCOMP: {
      struct sock_fprog prog = {(unsigned short)w[2], (struct sock_filter *)str(base, w[1])};
      r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
      break;
    }
    case OP_DUP2:
      if (w[1] == w[2]) r = fcntl((int)w[1], F_SETFD, 0);
      else r = dup2((int)w[1], (int)w[2]);
      break;
    case OP_CLOEXEC_FROM: r = syscall(SYS_close_range, (unsigned)w[1], ~0u, CLOSE_RANGE_CLOEXEC); break;
    case OP_SETSID: r = setsid(); if (r > 0) r = 0; break;
    case OP_UNSHARE: r = unshare((int)w[1]); break;
    case OP_OPEN_NULL_STDIO: {
      /* Default stdio: /dev/null, opened after pivot_root so it is the container's node. */
      int fd = open("/dev/null", O_RDWR);
      if (fd < 0) { r = -1; break; }
      for (int k = 0; k < 3; k++)
        if ((w[1] & (1u << k)) && dup2(fd, k) < 0) { r = -1; break; }
      if (fd > 2) close(fd);
      break;
    }
    case OP_EXECVEAT: {
      /* argv/envp are arrays of string offsets; rewrite them into pointers in our COW copy. */
      uint64_t *argv = (uint64_t *)str(base, w[3]), *envp = (uint64_t *)str(base, w[4]);
      for (uint64_t *p = argv; *p; p++) *p = (uint64_t)(uintptr_t)(base + *p);
      for (uint64_t *p = envp; *p; p++) *p = (uint64_t)(uintptr_t)(base + *p);
#ifdef FLOE_INLINE_INIT
      /* floe-init's setup stage continues as PID 1 in place of this exec (no return). */
      FLOE_INLINE_INIT((char **)argv, (char **)envp);
#endif
      r = syscall(SYS_execveat, (int)w[1], w[2] ? str(base, w[2]) : "", (char **)argv, (char **)envp,
                  (int)w[5]);
      break;
    }
    case OP_OPEN_REG: {
      int fd = open(str(base, w[1]), (int)w[2] | O_CLOEXEC);
      if (fd < 0) { r = -1; break; }
      regs[w[3] & 7] = fd;
      break;
    }
    case OP_WAIT_REG: {
      /* exec.fifo opened O_RDWR before pivot_root: blocks until `start` writes a byte. */
      char b;
      ssize_t n;
      do n = read(regs[w[1] & 7], &b, 1); while (n < 0 && errno == EINTR);
      if (n != 1) _exit(126);
      close(regs[w[1] & 7]);
      break;
    }
    case OP_NET_CONFIG: {
      /* eth0 inside the netns: address, netmask, up, default route (addresses in network order). */
      int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (sk < 0) { r = -1; break; }
      struct ifreq ifr;
      memset(&ifr, 0, sizeof ifr);
      strncpy(ifr.ifr_name, str(base, w[1]), IFNAMSIZ - 1);
      struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = (uint32_t)w[2];
      r = ioctl(sk, SIOCSIFADDR, &ifr);
      if (!r) { sin->sin_addr.s_addr = (uint32_t)w[3]; r = ioctl(sk, SIOCSIFNETMASK, &ifr); }
      if (!r) r = ioctl(sk, SIOCGIFFLAGS, &ifr);
      if (!r) { ifr.ifr_flags |= IFF_UP | IFF_RUNNING; r = ioctl(sk, SIOCSIFFLAGS, &ifr); }
      if (!r && w[4]) {
        struct rtentry rt;
        memset(&rt, 0, sizeof rt);
        ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
        ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
        struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
        gw->sin_family = AF_INET;
        gw->sin_addr.s_addr = (uint32_t)w[4];
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        r = ioctl(sk, SIOCADDRT, &rt);
      }
      int e = errno; close(sk); errno = e;
      break;
    }
    case OP_SETNS: {
      int fd = open(str(base, w[1]), O_RDONLY | O_CLOEXEC);
      if (fd < 0) { r = -1; break; }
      r = setns(fd, (int)w[2]);
      int e = errno; close(fd); errno = e;
      break;
    }
    default: errno = ENOSYS; r = -1;
    }
    if (r < 0) {
      if ((flags & OPF_IGNORE_ALL) || ((flags & OPF_IGNORE_ENOENT) && errno == ENOENT)) continue;
      return -errno;
    }
  }
  return 0;
}
