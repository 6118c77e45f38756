/*
 * floe-init: PID 1 of a Floe container. Forks and execs the payload (argv[1..]), reaps
 * zombies, forwards signals, and exits with the payload's status. PID 1 cannot die of a
 * signal it sends itself, so a signal death of the payload is encoded as 128+signal and
 * the runtime reports it as "signaled".
 *
 * Started as argv[0] "floe-setup" it is first the setup stage of a vfork+exec spawn: it
 * runs the runtime's op program (read from a memfd) in the container's fresh namespaces;
 * the program ends by execveat()ing this binary again as floe-init.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ops.c"

/* argv: floe-setup <program memfd> <sync pipe read end> <status pipe write end>. */
static int setup_main(int argc, char **argv) {
  if (argc < 4) return 127;
  int mfd = atoi(argv[1]), sync_r = atoi(argv[2]), status_w = atoi(argv[3]);
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
  else r = run_program(prog, sync_r, status_w, &failed);
  int32_t rec[2] = {failed, r < 0 ? -r : ENOEXEC};
  write_all(status_w, rec, sizeof rec);
  _exit(127);
}

int main(int argc, char **argv) {
  if (argc > 0 && strcmp(argv[0], "floe-setup") == 0) return setup_main(argc, argv);
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
    execvp(argv[1], argv + 1);
    dprintf(2, "floe-init: exec %s: %m\n", argv[1]);
    _exit(errno == ENOENT ? 127 : 126);
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
