// Runs a command N times and prints one line per run: nanoseconds from fork to exit (or, with
// -f, to the first byte on its stdout), then its exit status. Used for the crun/runc/CLI
// baselines so that the timing sits next to the fork and costs no shell or Node overhead.
// `{i}` in an argument is replaced by the run index (unique container ids).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static long long now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  int n = 1, first = 0, i0 = 1;
  for (; i0 < argc; i0++) {
    if (!strcmp(argv[i0], "-n")) n = atoi(argv[++i0]);
    else if (!strcmp(argv[i0], "-f")) first = 1;
    else if (!strcmp(argv[i0], "--")) { i0++; break; }
    else break;
  }
  if (i0 >= argc) { fprintf(stderr, "usage: timeit [-n N] [-f] -- cmd args\n"); return 2; }
  int nargs = argc - i0;
  char **args = calloc(nargs + 1, sizeof *args);
  char idx[32];
  for (int r = 0; r < n; r++) {
    snprintf(idx, sizeof idx, "%d", r);
    for (int k = 0; k < nargs; k++) {
      char *p = strstr(argv[i0 + k], "{i}");
      if (!p) { args[k] = argv[i0 + k]; continue; }
      static char bufs[64][512];
      snprintf(bufs[k], sizeof bufs[k], "%.*s%s%s", (int)(p - argv[i0 + k]), argv[i0 + k], idx, p + 3);
      args[k] = bufs[k];
    }
    int fd[2];
    if (first && pipe(fd) < 0) return 1;
    long long t0 = now(), t1 = 0;
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(first ? fd[1] : null, 1);
      if (first) { close(fd[0]); close(fd[1]); }
      execvp(args[0], args);
      _exit(127);
    }
    if (first) {
      close(fd[1]);
      char b;
      if (read(fd[0], &b, 1) == 1) t1 = now();
      char sink[4096];
      while (read(fd[0], sink, sizeof sink) > 0) {}
      close(fd[0]);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!first) t1 = now();
    printf("%lld %d\n", t1 ? t1 - t0 : -1, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    fflush(stdout);
  }
  return 0;
}
