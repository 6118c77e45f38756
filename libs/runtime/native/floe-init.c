/*
 * floe-init: PID 1 of a Floe container. Forks and execs the payload (argv[1..]), reaps
 * zombies, forwards signals, and exits with the payload's status. PID 1 cannot die of a
 * signal it sends itself, so a signal death of the payload is encoded as 128+signal and
 * the runtime reports it as "signaled".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
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
