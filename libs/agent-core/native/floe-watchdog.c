/*
 * floe-watchdog: the `exec` runtime, in the style of OpenFaaS's classic watchdog.
 * It connects to the agent's unix socket, says hello, then for every `inv` frame forks the
 * function's process (`fprocess`) with the request body on stdin and Http_* variables in
 * its environment; stdout becomes the response body. Static, so it runs in any image.
 * In HTTP mode (OpenFaaS images) it instead starts the image's own server once and proxies.
 * Wire format: libs/contracts/src/rpc/frame-codec.ts, `kv` headers (NUL-separated pairs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <grp.h>

extern char **environ;

#define MAX_ENV 512

static char *fprocess;
static char *fn_env[MAX_ENV];
static int fn_env_n;
/* HTTP mode (of-watchdog style): fprocess is a long-lived server on 127.0.0.1:http_port in the
 * container's own netns, started once at load; each call is proxied to it as HTTP/1.0, so the
 * answer ends when the server closes the connection (no chunked bodies to decode). */
static int http_port;
static pid_t server_pid;
/* The image's Entrypoint + Cmd, run as given (no shell); empty: `sh -c fprocess`. */
static char *server_argv[256];
static int server_argc;
/* The image's `User` (name or uid, optionally :group), resolved in the image's /etc files. */
static char *run_user;
/* More loopback ports that must accept connections before the function is ready (the
 * upstream of an of-watchdog in HTTP mode, which reports healthy before its upstream is). */
static int wait_ports[8];
static int wait_portc;

static int read_full(int fd, void *buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t r = read(fd, (char *)buf + off, n - off);
    if (r == 0) return -1;
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    off += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, (const char *)buf + off, n - off);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    off += (size_t)w;
  }
  return 0;
}

struct buf { char *p; size_t len, cap; };

static void buf_add(struct buf *b, const void *d, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) { perror("floe-watchdog: realloc"); exit(70); }
    b->cap = cap;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
}

static void kv(struct buf *b, const char *k, const char *v) {
  buf_add(b, k, strlen(k) + 1);
  buf_add(b, v, strlen(v) + 1);
}

static int send_frame(int sock, struct buf *head, const char *body, size_t blen) {
  uint32_t h[2] = { htonl((uint32_t)head->len), htonl((uint32_t)blen) };
  if (write_full(sock, h, 8) < 0 || write_full(sock, head->p, head->len) < 0) return -1;
  return blen ? write_full(sock, body, blen) : 0;
}

/* OpenFaaS names request headers Http_<Name> with '-' turned into '_'. */
static char *header_env(const char *name, const char *value) {
  size_t n = strlen(name);
  char *e = malloc(n + strlen(value) + 7);
  if (!e) return NULL;
  strcpy(e, "Http_");
  for (size_t i = 0; i < n; i++) e[5 + i] = name[i] == '-' ? '_' : name[i];
  e[5 + n] = '=';
  strcpy(e + 6 + n, value);
  return e;
}

/* fn_env plus the default PATH when the function's env has none; NULL-terminated. */
static int base_env(char **envp, int max) {
  int ne = 0, has_path = 0;
  for (int i = 0; i < fn_env_n && ne < max - 2; i++) {
    if (!strncmp(fn_env[i], "PATH=", 5)) has_path = 1;
    envp[ne++] = fn_env[i];
  }
  if (!has_path) envp[ne++] = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  envp[ne] = NULL;
  return ne;
}

/* Finds `key` (a name, or a number when by_id) in field 0 or 2 of a passwd/group file.
 * Fills id (field 2), gid (field 3) and home (field 5) where the file has them. */
static int lookup_id(const char *file, const char *key, int by_id, unsigned *id, unsigned *gid, char *home, size_t hl) {
  FILE *f = fopen(file, "re");
  if (!f) return -1;
  char line[1024];
  int found = -1;
  while (found < 0 && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *fld[7] = {0}; int n = 0;
    for (char *p = line, *c; n < 7; p = c + 1) {
      fld[n++] = p;
      if (!(c = strchr(p, ':'))) break;
      *c = 0;
    }
    if (n < 3) continue;
    if (by_id ? strcmp(fld[2], key) : strcmp(fld[0], key)) continue;
    *id = (unsigned)strtoul(fld[2], NULL, 10);
    if (gid && n > 3) *gid = (unsigned)strtoul(fld[3], NULL, 10);
    if (home && n > 5) snprintf(home, hl, "%s", fld[5]);
    found = 0;
  }
  fclose(f);
  return found;
}

static int numeric(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

/* In a forked child: becomes the image's user, as a container runtime would, and sets HOME
 * from its passwd entry unless the env has one. Exits the child on failure (naming why). */
static void become_user(char **envp, int *ne) {
  char home[512] = "/";
  int has_home = 0;
  for (int i = 0; i < *ne; i++) if (!strncmp(envp[i], "HOME=", 5)) has_home = 1;
  if (run_user && *run_user) {
    char spec[256];
    snprintf(spec, sizeof spec, "%s", run_user);
    char *grp = strchr(spec, ':');
    if (grp) *grp++ = 0;
    unsigned uid = 0, gid = 0;
    if (lookup_id("/etc/passwd", spec, numeric(spec), &uid, &gid, home, sizeof home) < 0) {
      if (!numeric(spec)) { fprintf(stderr, "floe-watchdog: user %s: not in the image's /etc/passwd\n", spec); _exit(126); }
      uid = (unsigned)strtoul(spec, NULL, 10);
      gid = 0;
    }
    if (grp && *grp) {
      unsigned g = 0;
      if (lookup_id("/etc/group", grp, numeric(grp), &g, NULL, NULL, 0) == 0) gid = g;
      else if (numeric(grp)) gid = (unsigned)strtoul(grp, NULL, 10);
      else { fprintf(stderr, "floe-watchdog: group %s: not in the image's /etc/group\n", grp); _exit(126); }
    }
    gid_t groups[1] = { gid };
    /* Already that user (a runtime that set the process user itself): nothing to drop. */
    int already = getuid() == uid && getgid() == gid;
    if (!already && (setgroups(1, groups) || setgid(gid) || setuid(uid))) {
      fprintf(stderr, "floe-watchdog: setgroups/setgid/setuid to user %s (%u:%u): %s\n", run_user, uid, gid, strerror(errno));
      _exit(126);
    }
  }
  if (!has_home && *ne < MAX_ENV * 2 + 6) {
    char *e = NULL;
    if (asprintf(&e, "HOME=%s", home) > 0) envp[(*ne)++] = e;
    envp[*ne] = NULL;
  }
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void handle_invoke(int sock, char **pairs, int npairs, const char *body, size_t blen) {
  const char *id = "0";
  char *envp[MAX_ENV * 2 + 8];
  int ne = base_env(envp, MAX_ENV + 2);
  int nbase = ne;
  for (int i = 0; i + 1 < npairs; i += 2) {
    const char *k = pairs[i], *v = pairs[i + 1];
    char *e = NULL;
    if (!strcmp(k, "id")) id = v;
    else if (!strcmp(k, "method")) asprintf(&e, "Http_Method=%s", v);
    else if (!strcmp(k, "path")) asprintf(&e, "Http_Path=%s", v);
    else if (!strcmp(k, "query")) asprintf(&e, "Http_Query=%s", v);
    else if (!strncmp(k, "h:", 2)) e = header_env(k + 2, v);
    if (e && ne < MAX_ENV * 2 + 6) envp[ne++] = e;
  }
  envp[ne] = NULL;

  double t0 = now_us();
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) { perror("floe-watchdog: pipe2"); exit(70); }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0); dup2(out[1], 1); dup2(err[1], 2);
    signal(SIGPIPE, SIG_DFL);
    become_user(envp, &ne);
    if (access("/bin/sh", X_OK) == 0) {
      char *argv[] = { "sh", "-c", fprocess ? fprocess : "cat", NULL };
      execve("/bin/sh", argv, envp);
    } else {
      char *argv[64]; int ac = 0;
      char *copy = strdup(fprocess ? fprocess : "cat");
      for (char *t = strtok(copy, " "); t && ac < 63; t = strtok(NULL, " ")) argv[ac++] = t;
      argv[ac] = NULL;
      execvpe(argv[0], argv, envp);
    }
    fprintf(stderr, "floe-watchdog: exec %s: %s\n", fprocess, strerror(errno));
    _exit(127);
  }
  close(in[0]); close(out[1]); close(err[1]);
  /* Non-blocking, so a write never waits for the whole body while the function's stdout
   * fills up: stdin, stdout and stderr all move together under one poll. */
  fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
  struct buf o = {0}, e = {0};
  size_t woff = 0;
  int open_out = 1, open_err = 1, open_in = 1;
  if (blen == 0) { close(in[1]); open_in = 0; }
  while (open_out || open_err) {
    struct pollfd p[3]; int n = 0, io = -1, oo = -1, eo = -1;
    if (open_in) { p[n].fd = in[1]; p[n].events = POLLOUT; io = n++; }
    if (open_out) { p[n].fd = out[0]; p[n].events = POLLIN; oo = n++; }
    if (open_err) { p[n].fd = err[0]; p[n].events = POLLIN; eo = n++; }
    if (poll(p, n, -1) < 0) { if (errno == EINTR) continue; break; }
    char chunk[65536];
    if (io >= 0 && p[io].revents) {
      ssize_t w = write(in[1], body + woff, blen - woff);
      if (w > 0) woff += (size_t)w;
      /* EPIPE: the function stopped reading its input; its output still counts. */
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || woff == blen) { close(in[1]); open_in = 0; }
    }
    if (oo >= 0 && p[oo].revents) {
      ssize_t r = read(out[0], chunk, sizeof chunk);
      if (r > 0) buf_add(&o, chunk, (size_t)r); else { close(out[0]); open_out = 0; }
    }
    if (eo >= 0 && p[eo].revents) {
      ssize_t r = read(err[0], chunk, sizeof chunk);
      if (r > 0) buf_add(&e, chunk, (size_t)r); else { close(err[0]); open_err = 0; }
    }
  }
  if (open_in) close(in[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  /* stderr belongs in the function's logs; on failure it is also the response. */
  if (e.len) write_full(2, e.p, e.len);

  struct buf head = {0};
  char num[32], us[32];
  kv(&head, "t", "res");
  kv(&head, "id", id);
  int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  snprintf(num, sizeof num, "%d", ok ? 200 : 500);
  kv(&head, "status", num);
  snprintf(us, sizeof us, "%.0f", now_us() - t0);
  kv(&head, "us", us);
  const char *ct = getenv("content_type");
  kv(&head, "h:Content-Type", ct ? ct : "text/plain; charset=utf-8");
  if (!ok) {
    char msg[128];
    if (WIFSIGNALED(status)) snprintf(msg, sizeof msg, "function process killed by signal %d\n", WTERMSIG(status));
    else snprintf(msg, sizeof msg, "function process exited with code %d\n", WEXITSTATUS(status));
    buf_add(&e, msg, strlen(msg));
    send_frame(sock, &head, e.p, e.len);
  } else {
    send_frame(sock, &head, o.p, o.len);
  }
  free(o.p); free(e.p); free(head.p);
  for (int i = nbase; i < ne; i++) free(envp[i]);
}


static int connect_local(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { close(fd); return -1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* One HTTP/1.0 GET of /_/health: its status, 0 when the server sent no valid answer. */
static int health_status(void) {
  int fd = connect_local(http_port);
  if (fd < 0) return 0;
  static const char req[] = "GET /_/health HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: floe-watchdog\r\n\r\n";
  char res[256];
  size_t n = 0;
  int status = 0;
  struct timeval tv = { .tv_sec = 1 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (write_full(fd, req, sizeof req - 1) == 0) {
    for (ssize_t r; n < sizeof res - 1 && (r = read(fd, res + n, sizeof res - 1 - n)) > 0;) n += (size_t)r;
    res[n] = 0;
    if (sscanf(res, "HTTP/%*s %d", &status) != 1) status = 0;
  }
  close(fd);
  return status;
}

/* Within the agent's 10 s deadline for `load`, with room for the answer on a busy host. */
#define READY_WAIT_S 8

/* Starts the server and waits (up to READY_WAIT_S) until it
 * accepts connections and, where it serves /_/health (both OpenFaaS watchdogs do), that
 * answers: 503 there means "not ready yet", any other answer means ready. */
static const char *start_server(void) {
  server_pid = fork();
  if (server_pid == 0) {
    signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
    char *envp[MAX_ENV + 4];
    int ne = base_env(envp, MAX_ENV + 2);
    become_user(envp, &ne);
    /* execvp searches the image's PATH, from the environment it gets. */
    environ = envp;
    if (server_argc) {
      execvp(server_argv[0], server_argv);
      fprintf(stderr, "floe-watchdog: exec %s: %s\n", server_argv[0], strerror(errno));
      _exit(127);
    }
    char *argv[] = { "sh", "-c", fprocess ? fprocess : "false", NULL };
    execv("/bin/sh", argv);
    fprintf(stderr, "floe-watchdog: exec /bin/sh -c %s: %s\n", fprocess, strerror(errno));
    _exit(127);
  }
  static char why[256];
  int last = 0;
  /* A wall-clock budget, not a count of tries: a busy host makes each try slower. */
  double start = now_us();
  for (double end = start + READY_WAIT_S * 1e6; now_us() < end;) {
    int st = 0;
    if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
      if (WIFSIGNALED(st)) snprintf(why, sizeof why, "function server was killed by signal %d before it served HTTP on port %d", WTERMSIG(st), http_port);
      else snprintf(why, sizeof why, "function server exited with code %d before it served HTTP on port %d", WEXITSTATUS(st), http_port);
      return why;
    }
    int fd = connect_local(http_port), up = fd >= 0;
    if (fd >= 0) close(fd);
    for (int j = 0; up && j < wait_portc; j++) {
      int w = connect_local(wait_ports[j]);
      if (w < 0) up = 0; else close(w);
    }
    if (up) {
      last = health_status();
      if (last != 503) return NULL;
    }
    /* Every 0.5 ms for the first 200 ms, where servers come up (a refused loopback connect
     * costs microseconds), then every 10 ms: at 10 ms throughout, a cold start waited 5 ms
     * on average after the server was already listening. */
    usleep(now_us() - start < 200e3 ? 500 : 10000);
  }
  if (last == 503) snprintf(why, sizeof why, "function server on port %d still answered 503 on /_/health after %d s", http_port, READY_WAIT_S);
  else snprintf(why, sizeof why, "function server did not accept connections on port %d%s within %d s (another port: set the port env var or the com.floe.http-port annotation)", http_port, wait_portc ? " and its upstream port" : "", READY_WAIT_S);
  return why;
}

static void send_error(int sock, const char *id, int status, const char *msg) {
  struct buf head = {0};
  char num[16];
  kv(&head, "t", "res");
  kv(&head, "id", id);
  snprintf(num, sizeof num, "%d", status);
  kv(&head, "status", num);
  kv(&head, "h:Content-Type", "text/plain; charset=utf-8");
  send_frame(sock, &head, msg, strlen(msg));
  free(head.p);
}

/* Writes the request and reads the answer at the same time: a server that streams its
 * answer while the body still arrives (cat behind a watchdog) never waits on a full pipe. */
static int exchange(int fd, const char *req, size_t rlen, struct buf *res) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  size_t off = 0;
  char chunk[65536];
  for (;;) {
    struct pollfd p = { .fd = fd, .events = POLLIN | (off < rlen ? POLLOUT : 0) };
    if (poll(&p, 1, -1) < 0) { if (errno == EINTR) continue; return -1; }
    if (off < rlen && (p.revents & (POLLOUT | POLLERR))) {
      ssize_t w = write(fd, req + off, rlen - off);
      if (w > 0) off += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        /* The server may answer before reading the whole body, then close: keep its answer. */
        if (errno != EPIPE && errno != ECONNRESET) return -1;
        off = rlen;
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(fd, chunk, sizeof chunk);
      if (r > 0) buf_add(res, chunk, (size_t)r);
      else if (r == 0) return 0;
      else if (errno != EAGAIN && errno != EINTR) return res->len ? 0 : -1;
    }
  }
}

static void handle_http(int sock, char **pairs, int npairs, const char *body, size_t blen) {
  const char *id = "0", *method = "GET", *path = "/", *query = "";
  for (int i = 0; i + 1 < npairs; i += 2) {
    if (!strcmp(pairs[i], "id")) id = pairs[i + 1];
    else if (!strcmp(pairs[i], "method")) method = pairs[i + 1];
    else if (!strcmp(pairs[i], "path")) path = pairs[i + 1];
    else if (!strcmp(pairs[i], "query")) query = pairs[i + 1];
  }
  double t0 = now_us();
  int fd = connect_local(http_port);
  if (fd < 0) {
    int st = 0;
    if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
      /* The server is gone for good: say why, then end this instance so a new one replaces it. */
      char msg[128];
      if (WIFSIGNALED(st)) snprintf(msg, sizeof msg, "function server was killed by signal %d\n", WTERMSIG(st));
      else snprintf(msg, sizeof msg, "function server exited with code %d\n", WEXITSTATUS(st));
      send_error(sock, id, 502, msg);
      fputs(msg, stderr);
      exit(70);
    }
    send_error(sock, id, 502, "function server is not accepting connections\n");
    return;
  }
  struct buf req = {0};
  char line[8192];
  snprintf(line, sizeof line, "%s %s%s%s HTTP/1.0\r\n", method, path, *query ? "?" : "", query);
  buf_add(&req, line, strlen(line));
  for (int i = 0; i + 1 < npairs; i += 2) {
    if (strncmp(pairs[i], "h:", 2)) continue;
    const char *h = pairs[i] + 2;
    if (!strcasecmp(h, "content-length") || !strcasecmp(h, "connection") || !strcasecmp(h, "transfer-encoding")) continue;
    snprintf(line, sizeof line, "%s: %s\r\n", h, pairs[i + 1]);
    buf_add(&req, line, strlen(line));
  }
  snprintf(line, sizeof line, "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
  buf_add(&req, line, strlen(line));
  if (blen) buf_add(&req, body, blen);
  struct buf res = {0};
  int ok = exchange(fd, req.p, req.len, &res) == 0;
  free(req.p);
  close(fd);
  if (!ok) {
    free(res.p);
    send_error(sock, id, 502, "function server closed the connection without an answer\n");
    return;
  }
  buf_add(&res, "", 1); /* NUL so header parsing can use string functions */
  res.len--;
  /* Servers and CGI scripts behind them may end headers with a bare LF. */
  char *crlf = res.p ? strstr(res.p, "\r\n\r\n") : NULL, *lf = res.p ? strstr(res.p, "\n\n") : NULL;
  char *sep = crlf && (!lf || crlf < lf) ? crlf : lf;
  size_t sep_len = sep == crlf ? 4 : 2;
  int status = 0;
  if (!sep || sscanf(res.p, "HTTP/%*s %d", &status) != 1) {
    free(res.p);
    send_error(sock, id, 502, "function server sent no valid HTTP response\n");
    return;
  }
  struct buf head = {0};
  char num[32];
  kv(&head, "t", "res");
  kv(&head, "id", id);
  snprintf(num, sizeof num, "%d", status);
  kv(&head, "status", num);
  snprintf(num, sizeof num, "%.0f", now_us() - t0);
  kv(&head, "us", num);
  *sep = 0;
  char *save = NULL;
  strtok_r(res.p, "\r\n", &save); /* status line */
  for (char *h = strtok_r(NULL, "\r\n", &save); h; h = strtok_r(NULL, "\r\n", &save)) {
    char *colon = strchr(h, ':');
    if (!colon) continue;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ') v++;
    if (!strcasecmp(h, "connection") || !strcasecmp(h, "content-length") || !strcasecmp(h, "transfer-encoding")) continue;
    char name[512];
    snprintf(name, sizeof name, "h:%s", h);
    kv(&head, name, v);
  }
  char *b = sep + sep_len;
  send_frame(sock, &head, b, res.len - (size_t)(b - res.p));
  free(head.p);
  free(res.p);
}

int main(int argc, char **argv) {
  (void)argc; (void)argv;
  signal(SIGPIPE, SIG_IGN);
  const char *path = getenv("FLOE_AGENT_SOCK");
  if (!path) path = "/run/floe/agent.sock";
  const char *token = getenv("FLOE_INSTANCE_TOKEN");
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  if (sock < 0 || connect(sock, (struct sockaddr *)&a, sizeof a) < 0) {
    fprintf(stderr, "floe-watchdog: connect %s: %s\n", path, strerror(errno));
    return 70;
  }
  struct buf hello = {0};
  kv(&hello, "t", "hello");
  kv(&hello, "token", token ? token : "");
  kv(&hello, "runtime", "exec");
  send_frame(sock, &hello, NULL, 0);
  for (;;) {
    uint32_t h[2];
    if (read_full(sock, h, 8) < 0) return 0; /* the agent went away: so do we */
    uint32_t hl = ntohl(h[0]), bl = ntohl(h[1]);
    char *head = malloc(hl + 1), *body = malloc(bl + 1);
    if (!head || !body || read_full(sock, head, hl) < 0 || (bl && read_full(sock, body, bl) < 0)) return 0;
    head[hl] = 0;
    char *pairs[2048]; int np = 0;
    for (uint32_t off = 0; off < hl && np < 2048;) { pairs[np++] = head + off; off += (uint32_t)strlen(head + off) + 1; }
    const char *t = np >= 2 && !strcmp(pairs[0], "t") ? pairs[1] : "";
    if (!strcmp(t, "inv")) {
      if (http_port) handle_http(sock, pairs + 2, np - 2, body, bl);
      else handle_invoke(sock, pairs + 2, np - 2, body, bl);
    } else if (!strcmp(t, "load")) {
      for (int i = 2; i + 1 < np; i += 2) {
        if (!strcmp(pairs[i], "handler")) { free(fprocess); fprocess = strdup(pairs[i + 1]); }
        else if (!strcmp(pairs[i], "httpPort")) http_port = atoi(pairs[i + 1]);
        else if (!strcmp(pairs[i], "argv") && server_argc < 255) server_argv[server_argc++] = strdup(pairs[i + 1]);
        else if (!strcmp(pairs[i], "user")) { free(run_user); run_user = strdup(pairs[i + 1]); }
        else if (!strcmp(pairs[i], "waitPorts") && wait_portc < 8) wait_ports[wait_portc++] = atoi(pairs[i + 1]);
        else if (!strncmp(pairs[i], "e:", 2) && fn_env_n < MAX_ENV) {
          char *e = NULL;
          asprintf(&e, "%s=%s", pairs[i] + 2, pairs[i + 1]);
          fn_env[fn_env_n++] = e;
          if (!strcmp(pairs[i] + 2, "content_type")) setenv("content_type", pairs[i + 1], 1);
        }
      }
      struct buf r = {0};
      kv(&r, "t", "loaded");
      const char *failed = http_port ? start_server() : NULL;
      if (failed) {
        kv(&r, "ok", "false");
        kv(&r, "error", failed);
      } else {
        kv(&r, "ok", "true");
      }
      send_frame(sock, &r, NULL, 0);
      free(r.p);
    }
    free(head); free(body);
  }
}
