/*
 * floe-init: PID 1 of a Floe container. Forks and execs the payload (argv[1..]), reaps
 * zombies, forwards signals, and exits with the payload's status. PID 1 cannot die of a
 * signal it sends itself, so a signal death of the payload is encoded as 128+signal and
 * the runtime reports it as "signaled".
 *
 * Started with a first environment entry FLOE_SETUP=<memfd>,<sync>,<status> (followed by
 * the payload's environment, argv being the program's own) it is first the setup stage of a
 * vfork+exec spawn: it runs the runtime's op program (read from a memfd) in the container's
 * fresh namespaces. The program ends with an execveat() of this binary as floe-init; the
 * setup stage does not exec but closes every fd from 3 up (what that exec would have closed:
 * the program marks them all CLOEXEC, so the status pipe reports EOF just the same) and
 * continues as PID 1 with the program's argv and envp, saving an exec per container. A
 * fork-style spawn (off x86-64, from the shim) still execs floe-init.
 *
 * On x86-64 it is built without libc (nolibc.c): a static glibc start costs ~0.25 ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef FLOE_NOLIBC
#include "nolibc.c"
#endif
static int in_setup;
static void become_init(char **argv, char **envp);
#define FLOE_INLINE_INIT(argv, envp) \
  do { \
    if (in_setup) become_init(argv, envp); \
  } while (0)
#include "ops.c"

static int parse_fd(const char *s) {
  int n = 0;
  for (; *s >= '0' && *s <= '9'; s++) n = n * 10 + (*s - '0');
  return n;
}

static void put(const char *s) { write_all(2, s, strlen(s)); }

static const char *errno_text(int e) {
  switch (e) {
  case ENOENT: return "No such file or directory";
  case EACCES: return "Permission denied";
  case ENOEXEC: return "Exec format error";
  case ENOTDIR: return "Not a directory";
  case E2BIG: return "Argument list too long";
  case ENOMEM: return "Cannot allocate memory";
  case ELOOP: return "Too many levels of symbolic links";
  default: return "exec failed";
  }
}

/* execve, or as a script without #! through /bin/sh (execvp's ENOEXEC fallback). */
static void exec_file(const char *path, char **argv, char **envp) {
  execve(path, argv, envp);
  if (errno != ENOEXEC) return;
  char *sh[64];
  int n = 0;
  sh[n++] = "/bin/sh";
  sh[n++] = (char *)path;
  for (char **a = argv + 1; *a && n < 63; a++) sh[n++] = *a;
  sh[n] = NULL;
  execve("/bin/sh", sh, envp);
  errno = ENOEXEC;
}

/* execvp without malloc: PATH from the payload's environment (glibc's default if unset). */
static void exec_payload(char **argv, char **envp) {
  const char *file = argv[0];
  if (strchr(file, '/')) { exec_file(file, argv, envp); return; }
  const char *path = "/bin:/usr/bin";
  for (char **e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) { path = *e + 5; break; }
  size_t flen = strlen(file);
  int seen_eacces = 0, last = ENOENT;
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    if (!end) end = p + strlen(p);
    char buf[4096];
    size_t dlen = (size_t)(end - p);
    if (dlen + flen + 2 <= sizeof buf) {
      memcpy(buf, p, dlen);
      if (dlen) buf[dlen++] = '/';
      memcpy(buf + dlen, file, flen + 1);
      exec_file(buf, argv, envp);
      if (errno == EACCES) seen_eacces = 1;
      else if (errno != ENOENT && errno != ENOTDIR) last = errno;
    }
    if (!*end) break;
    p = end;
  }
  errno = seen_eacces ? EACCES : last;
}

/* fds: "<program memfd>,<sync pipe read end>,<status pipe write end>". */
static int setup_main(const char *fds) {
  int mfd = parse_fd(fds);
  while (*fds && *fds != ',') fds++;
  if (*fds) fds++;
  int sync_r = parse_fd(fds);
  while (*fds && *fds != ',') fds++;
  if (*fds) fds++;
  int status_w = parse_fd(fds);
  /* Kept open across the exec that started us; nothing after floe-init's exec may see them. */
  fcntl(sync_r, F_SETFD, FD_CLOEXEC);
  fcntl(status_w, F_SETFD, FD_CLOEXEC);
  int failed = -1, r;
  struct stat st;
  char *prog = MAP_FAILED;
  if (fstat(mfd, &st) == 0 && st.st_size >= 16)
    prog = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
  close(mfd);
  /* index -2: the program itself could not be loaded (-1 is the READY record). */
  if (prog == MAP_FAILED || ((uint32_t *)prog)[0] != MAGIC) { failed = -2; r = -ENOEXEC; }
  else {
    in_setup = 1;
    r = run_program(prog, sync_r, status_w, &failed);
  }
  int32_t rec[2] = {failed, r < 0 ? -r : ENOEXEC};
  write_all(status_w, rec, sizeof rec);
  _exit(127);
}

static int init_main(int argc, char **argv, char **envp) {
  if (argc < 2) return 127;
  /* The runtime execs us with every signal blocked; keep it so and take them via sigwait. */
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  sigprocmask(SIG_BLOCK, &all, NULL);
  pid_t child = fork();
  if (child < 0) return 127;
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    exec_payload(argv + 1, envp);
    int e = errno;
    put("floe-init: exec ");
    put(argv[1]);
    put(": ");
    put(errno_text(e));
    put("\n");
    _exit(e == ENOENT ? 127 : 126);
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&all, &sig) != 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG);
      if (p <= 0) break;
      if (p != child) continue;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    }
  }
}

/* The program's final execveat of floe-init, without the exec (see the top comment). */
static void become_init(char **argv, char **envp) {
  if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0) return; /* then the real execveat runs */
  int argc = 0;
  while (argv[argc]) argc++;
  _exit(init_main(argc, argv, envp));
}

int main(int argc, char **argv, char **envp) {
  /* /proc/1/environ keeps this entry ahead of the payload's environment (hiding it takes
   * PR_SET_MM, i.e. CAP_SYS_RESOURCE, which hosts may withhold); the payload never sees it. */
  if (envp[0] && strncmp(envp[0], "FLOE_SETUP=", 11) == 0) return setup_main(envp[0] + 11);
  return init_main(argc, argv, envp);
}
