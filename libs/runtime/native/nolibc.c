/*
 * Just enough of libc for floe-init, as raw x86-64 syscalls. A static glibc binary spends
 * ~0.25 ms per exec in its startup (IRELATIVE relocs, TLS, cpuid-heavy cache probing, which
 * traps in a VM) and floe-init is exec'd on every container start. The functions keep their
 * libc names and prototypes (glibc's headers are still used for types and constants), so
 * ops.c compiles unchanged; errno is one global (floe-init is single-threaded).
 * Build: -nostdlib -static -fno-stack-protector -fno-pie -no-pie (see src/sys/native.ts).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int nolibc_errno;
int *__errno_location(void) { return &nolibc_errno; }

static long raw6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

/* libc convention: -1 and errno on failure. */
static long ret_errno(long r) {
  if (r < 0 && r > -4096) { nolibc_errno = (int)-r; return -1; }
  return r;
}
#define SC(n, a, b, c, d, e, f) ret_errno(raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f)))

long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
  long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  return SC(n, a, b, c, d, e, f);
}

void _exit(int status) {
  for (;;) raw6(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

ssize_t read(int fd, void *buf, size_t n) { return SC(SYS_read, fd, buf, n, 0, 0, 0); }
ssize_t write(int fd, const void *buf, size_t n) { return SC(SYS_write, fd, buf, n, 0, 0, 0); }
int close(int fd) { return (int)SC(SYS_close, fd, 0, 0, 0, 0, 0); }
int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = (flags & (O_CREAT | __O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
  va_end(ap);
  return (int)SC(SYS_openat, AT_FDCWD, path, flags, mode, 0, 0);
}
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return (int)SC(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
}
int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  return (int)SC(SYS_ioctl, fd, req, arg, 0, 0, 0);
}
int prctl(int op, ...) {
  va_list ap;
  va_start(ap, op);
  unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long);
  unsigned long c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
  va_end(ap);
  return (int)SC(SYS_prctl, op, a, b, c, d, 0);
}
int dup2(int from, int to) { return (int)SC(SYS_dup2, from, to, 0, 0, 0, 0); }
int mkdir(const char *path, mode_t mode) { return (int)SC(SYS_mkdirat, AT_FDCWD, path, mode, 0, 0, 0); }
int symlink(const char *to, const char *at) { return (int)SC(SYS_symlinkat, to, AT_FDCWD, at, 0, 0, 0); }
int chdir(const char *path) { return (int)SC(SYS_chdir, path, 0, 0, 0, 0, 0); }
int fstat(int fd, struct stat *st) { return (int)SC(SYS_fstat, fd, st, 0, 0, 0, 0); }
int mount(const char *src, const char *tgt, const char *type, unsigned long flags, const void *data) {
  return (int)SC(SYS_mount, src, tgt, type, flags, data, 0);
}
int umount2(const char *tgt, int flags) { return (int)SC(SYS_umount2, tgt, flags, 0, 0, 0, 0); }
int sethostname(const char *name, size_t len) { return (int)SC(SYS_sethostname, name, len, 0, 0, 0, 0); }
int socket(int domain, int type, int proto) { return (int)SC(SYS_socket, domain, type, proto, 0, 0, 0); }
int setrlimit(__rlimit_resource_t res, const struct rlimit *rl) {
  return (int)SC(SYS_prlimit64, 0, res, rl, 0, 0, 0);
}
pid_t setsid(void) { return (pid_t)SC(SYS_setsid, 0, 0, 0, 0, 0, 0); }
int unshare(int flags) { return (int)SC(SYS_unshare, flags, 0, 0, 0, 0, 0); }
int setns(int fd, int type) { return (int)SC(SYS_setns, fd, type, 0, 0, 0, 0); }
int kill(pid_t pid, int sig) { return (int)SC(SYS_kill, pid, sig, 0, 0, 0, 0); }
pid_t waitpid(pid_t pid, int *status, int options) { return (pid_t)SC(SYS_wait4, pid, status, options, 0, 0, 0); }
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  long r = raw6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
  if (r < 0 && r > -4096) { nolibc_errno = (int)-r; return MAP_FAILED; }
  return (void *)r;
}
pid_t fork(void) { return (pid_t)SC(SYS_clone, SIGCHLD, 0, 0, 0, 0, 0); }
int execve(const char *path, char *const argv[], char *const envp[]) {
  return (int)SC(SYS_execve, path, argv, envp, 0, 0, 0);
}

/* Kernel sigsets are 8 bytes on x86-64; glibc's sigset_t is larger but starts with them. */
int sigfillset(sigset_t *s) { memset(s, 0xff, sizeof *s); return 0; }
int sigemptyset(sigset_t *s) { memset(s, 0, sizeof *s); return 0; }
int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
  return (int)SC(SYS_rt_sigprocmask, how, set, old, 8, 0, 0);
}
int sigwait(const sigset_t *set, int *sig) {
  long r = raw6(SYS_rt_sigtimedwait, (long)set, 0, 0, 8, 0, 0);
  if (r < 0) return (int)-r;
  *sig = (int)r;
  return 0;
}

/* The compiler may emit calls to these for struct copies and initializers. */
void *memset(void *d, int c, size_t n) {
  unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}
size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
char *strncpy(char *d, const char *s, size_t n) {
  size_t i = 0;
  for (; i < n && s[i]; i++) d[i] = s[i];
  for (; i < n; i++) d[i] = 0;
  return d;
}
int strncmp(const char *a, const char *b, size_t n) {
  for (; n && *a && *a == *b; n--) a++, b++;
  return n ? (unsigned char)*a - (unsigned char)*b : 0;
}
char *strchr(const char *s, int c) {
  for (;; s++) {
    if (*s == (char)c) return (char *)s;
    if (!*s) return NULL;
  }
}
int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

/* Entry: argc, argv[], NULL, envp[] on the stack; main's return is the exit status. */
int main(int argc, char **argv, char **envp);
__attribute__((used)) static void start_c(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  _exit(main(argc, argv, argv + argc + 1));
}
__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start_c\n"
        "  hlt\n");
