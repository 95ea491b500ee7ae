/*
 * The physical limit for the unix echo: what a unix stream socket carries on this machine when
 * nothing but read() and write() stands between the bytes. The bench compiles it with cc at run
 * time (no binary is kept in the repo).
 *
 *   echo-limit serve PATH            echo server: one process, poll() over every connection, then
 *                                    256 KiB reads, each written back in full, until none is left
 *   echo-limit stream PATH SECONDS   client: keeps writing on one connection and reading the echo
 *                                    back for SECONDS, then prints "<bytes echoed> <seconds>"
 *
 * The stream client is also what measures unix-server and socat, so the three servers are fed by
 * the same C client and only the server differs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)
/* Bytes written but not yet echoed back: enough to keep both directions busy. */
#define MAX_IN_FLIGHT (4 * 1024 * 1024)

static char buffer[CHUNK];

static int fail(const char *what, const char *path) {
    fprintf(stderr, "echo-limit: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

static struct sockaddr_un address(const char *path) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    return addr;
}

/*
 * Echoes what a readable client has sent until it has nothing more (EAGAIN): a plain read/write
 * loop while data keeps coming, poll() only when it stops. Each read is written back in full
 * (client sockets block on write). Returns 0 once the client has closed.
 */
static int echo_available(int client) {
    for (;;) {
        ssize_t n = recv(client, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
        if (n <= 0) return 0;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(client, buffer + done, n - done);
            if (w <= 0) return 0;
            done += w;
        }
    }
}

#define MAX_CLIENTS 1024

static int serve(const char *path) {
    struct sockaddr_un addr = address(path);
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (server < 0 || bind(server, (struct sockaddr *)&addr, sizeof addr) < 0) return fail("cannot bind", path);
    if (listen(server, 511) < 0) return fail("cannot listen on", path);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is a closed client, not a fatal signal */
    printf("echo-limit: serving %s\n", path);
    fflush(stdout);
    /* fds[0] is the listening socket; clients follow. No fork, no thread: the cheapest server. */
    struct pollfd fds[MAX_CLIENTS + 1] = { { server, POLLIN, 0 } };
    int count = 1;
    for (;;) {
        if (poll(fds, count, -1) < 0) continue;
        for (int i = count - 1; i >= 1; i--) {
            if (fds[i].revents == 0 || echo_available(fds[i].fd)) continue;
            close(fds[i].fd);
            fds[i] = fds[--count];
        }
        if (fds[0].revents & POLLIN) {
            int client = accept(server, NULL, NULL);
            if (client >= 0 && count <= MAX_CLIENTS) fds[count++] = (struct pollfd){ client, POLLIN, 0 };
            else if (client >= 0) close(client);
        }
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int stream(const char *path, double seconds) {
    struct sockaddr_un addr = address(path);
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) return fail("cannot connect to", path);
    fcntl(sock, F_SETFL, O_NONBLOCK);
    long long written = 0, echoed = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
        struct pollfd p = { sock, POLLIN | (written - echoed < MAX_IN_FLIGHT ? POLLOUT : 0), 0 };
        if (poll(&p, 1, 100) < 0) return fail("poll on", path);
        if (p.revents & POLLIN) {
            ssize_t n = read(sock, buffer, sizeof buffer);
            if (n == 0) { errno = EPIPE; return fail("connection closed by", path); }
            if (n > 0) echoed += n;
        }
        if (p.revents & POLLOUT) {
            ssize_t n = write(sock, buffer, sizeof buffer);
            if (n > 0) written += n;
        }
        if (p.revents & (POLLERR | POLLHUP)) { errno = EPIPE; return fail("connection lost to", path); }
    }
    printf("%lld %.6f\n", echoed, now() - start);
    close(sock);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(argv[2]);
    if (argc == 4 && strcmp(argv[1], "stream") == 0) return stream(argv[2], atof(argv[3]));
    fprintf(stderr, "usage: echo-limit serve PATH | echo-limit stream PATH SECONDS\n");
    return 2;
}
