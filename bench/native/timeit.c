// Runs a command N times and prints one line per run: nanoseconds from fork to exit (or, with
// -f, to the first byte on its stdout), then its exit status. Used for the crun/runc/CLI
// baselines so that the timing sits next to the fork and costs no shell or Node overhead.
// `{i}` in an argument is replaced by the run index (unique container ids). With -w PORT the
// time is fork to the first byte of an HTTP answer on 127.0.0.1:PORT (a server's first
// response: connect is retried until it listens), after which the command is SIGKILLed (its
// stdout and stderr go to /dev/null: what it started, say a container, is the caller's to remove).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

static long long now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Polls 127.0.0.1:port until an HTTP GET / gets a first response byte; 0 on success. */
static int first_http_byte(int port, pid_t child) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  static const char req[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
  for (;;) {
    int st;
    if (waitpid(child, &st, WNOHANG) == child) return -1;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0 && write(s, req, sizeof req - 1) == sizeof req - 1) {
      char b;
      if (read(s, &b, 1) == 1) { close(s); return 0; }
    }
    close(s);
    struct timespec t = {0, 200000};
    nanosleep(&t, NULL);
  }
}

int main(int argc, char **argv) {
  int n = 1, first = 0, i0 = 1, port = 0;
  for (; i0 < argc; i0++) {
    if (!strcmp(argv[i0], "-n")) n = atoi(argv[++i0]);
    else if (!strcmp(argv[i0], "-f")) first = 1;
    else if (!strcmp(argv[i0], "-w")) port = atoi(argv[++i0]);
    else if (!strcmp(argv[i0], "--")) { i0++; break; }
    else break;
  }
  if (i0 >= argc) { fprintf(stderr, "usage: timeit [-n N] [-f | -w PORT] -- cmd args\n"); return 2; }
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
      /* A server outlives the SIGKILLed command: it must not hold the caller's stderr open. */
      if (port) dup2(null, 2);
      if (first) { close(fd[0]); close(fd[1]); }
      execvp(args[0], args);
      _exit(127);
    }
    if (port) {
      int ok = first_http_byte(port, pid) == 0;
      t1 = ok ? now() : 0;
      if (ok) kill(pid, SIGKILL);
      int st;
      waitpid(pid, &st, 0);
      printf("%lld %d\n", ok ? t1 - t0 : -1, ok ? 0 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
      fflush(stdout);
      continue;
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
