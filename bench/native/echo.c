// A minimal echo server on a unix socket: the floor case's payload. Static, no libc startup
// beyond what -static links, one connection at a time.
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  unlink(argv[1]);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4) < 0) {
    perror("echo: bind");
    return 1;
  }
  char buf[4096];
  for (;;) {
    int c = accept(s, 0, 0);
    if (c < 0) continue;
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
      if (write(c, buf, n) != n) break;
    close(c);
  }
}
