/*
 * redis_helpers.h - real redis-server processes for the Redis store tests.
 *
 * Each server runs under a small supervisor process holding the read end
 * of a "lifeline" pipe whose write end only the test holds: when the test
 * closes it (rsrv_stop) or dies in any way, the supervisor kills the
 * server (SIGKILL works on a SIGSTOPped one too) and removes its temporary
 * directory.  The server also has PR_SET_PDEATHSIG, so it never outlives
 * its supervisor.  A server counts as started once a connection on its
 * port reports its own process id (INFO server), so a port taken by a
 * parallel test is noticed and another one tried.
 */
#ifndef FR_TESTS_REDIS_HELPERS_H
#define FR_TESTS_REDIS_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct rsrv {
    int port;
    pid_t sup;     /* the supervisor */
    pid_t pid;     /* redis-server */
    int life;      /* write end of the lifeline; -1 once stopped */
    char dir[64];
    char pass[64]; /* requirepass, or "" */
} rsrv_t;

static inline void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stops the server and waits until its directory is gone. */
static inline void rsrv_stop(rsrv_t *s)
{
    if (s->life >= 0) {
        close(s->life);
        s->life = -1;
    }
    if (s->sup > 0) {
        kill(s->pid, SIGCONT);
        while (waitpid(s->sup, NULL, 0) < 0 && errno == EINTR)
            ;
        s->sup = 0;
    }
}

/* An admin connection (AUTH done); NULL if it cannot connect. */
static inline redisContext *rsrv_admin_try(const rsrv_t *s)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (s->pass[0]) {
        redisReply *r = redisCommand(c, "AUTH %s", s->pass);
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static inline redisContext *rsrv_admin(const rsrv_t *s)
{
    redisContext *c = rsrv_admin_try(s);
    cr_assert_not_null(c, "admin connection to port %d", s->port);
    return c;
}

/* Runs a command on an admin connection; the reply is the caller's. */
static inline redisReply *adm(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis command failed: %s", c->errstr);
    return r;
}

static inline int pick_port(void)
{
    static int seeded;
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        srand((unsigned)(getpid() ^ ts.tv_nsec));
        seeded = 1;
    }
    for (;;) {
        int p = 20000 + rand() % 10000; /* the cluster bus is p + 10000 */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return p;
    }
}

/* Starts redis-server with extra arguments (NULL-terminated); 0 or -1. */
static inline int rsrv_try(rsrv_t *s, const char *const *extra)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/freshet-redis-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    s->port = pick_port();
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[64] = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", s->dir,
                            "--daemonize", "no"};
    int n = 13;
    if (s->pass[0]) {
        argv[n++] = "--requirepass";
        argv[n++] = s->pass;
    }
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int life[2], rep[2];
    if (pipe2(life, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
        return -1;
    fflush(NULL);
    pid_t a = fork();
    if (a < 0)
        return -1;
    if (a == 0) {
        for (int fd = 3; fd < 1024; fd++)
            if (fd != life[0] && fd != rep[1])
                close(fd);
        pid_t b = fork();
        if (b == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            char log[128];
            snprintf(log, sizeof log, "%s/log", s->dir);
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execvp("redis-server", (char *const *)argv);
            _exit(127);
        }
        if (write(rep[1], &b, sizeof b) != (ssize_t)sizeof b)
            _exit(1);
        close(rep[1]);
        for (;;) {
            char ch;
            ssize_t r = read(life[0], &ch, 1);
            if (r == 0 || (r < 0 && errno != EINTR))
                break;
        }
        if (b > 0) {
            kill(b, SIGKILL);
            waitpid(b, NULL, 0);
        }
        execlp("rm", "rm", "-rf", s->dir, (char *)NULL);
        _exit(1);
    }
    close(life[0]);
    close(rep[1]);
    s->sup = a;
    s->life = life[1];
    ssize_t got = read(rep[0], &s->pid, sizeof s->pid);
    close(rep[0]);
    if (got != (ssize_t)sizeof s->pid) {
        rsrv_stop(s);
        return -1;
    }
    char want[32];
    snprintf(want, sizeof want, "process_id:%d\r", (int)s->pid);
    for (int i = 0; i < 300; i++) {
        redisContext *c = rsrv_admin_try(s);
        if (c) {
            redisReply *r = redisCommand(c, "INFO server");
            int ours = r && r->type == REDIS_REPLY_STRING && strstr(r->str, want);
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ours)
                return 0;
        }
        msleep(10);
    }
    rsrv_stop(s);
    return -1;
}

static inline void rsrv_start(rsrv_t *s, const char *const *extra)
{
    for (int i = 0; i < 5; i++)
        if (rsrv_try(s, extra) == 0)
            return;
    cr_assert_fail("could not start redis-server");
}

/* Runs a program; its exit status (or -1). Output goes to /dev/null. */
static inline int run_quiet(const char *const *argv)
{
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    if (p < 0 || waitpid(p, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Three masters, all slots assigned, cluster_state:ok everywhere. */
static inline void cluster_start(rsrv_t *s)
{
    static const char *const extra[] = {"--cluster-enabled", "yes", "--cluster-config-file",
                                        "nodes.conf", "--cluster-node-timeout", "5000", NULL};
    for (int i = 0; i < 3; i++)
        rsrv_start(&s[i], extra);
    char a[3][32];
    for (int i = 0; i < 3; i++)
        snprintf(a[i], sizeof a[i], "127.0.0.1:%d", s[i].port);
    const char *argv[] = {"redis-cli", "--cluster", "create", a[0], a[1], a[2],
                          "--cluster-replicas", "0", "--cluster-yes", NULL};
    cr_assert_eq(run_quiet(argv), 0, "redis-cli --cluster create");
    int64_t t0 = mono_ms();
    for (;;) {
        int ok = 0;
        for (int i = 0; i < 3; i++) {
            redisContext *c = rsrv_admin(&s[i]);
            redisReply *r = adm(c, "CLUSTER INFO");
            int good = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") &&
                       strstr(r->str, "cluster_known_nodes:3");
            freeReplyObject(r);
            /* and this node sees all three masters with their slots */
            r = adm(c, "CLUSTER SLOTS");
            good = good && r->type == REDIS_REPLY_ARRAY && r->elements >= 3;
            freeReplyObject(r);
            redisFree(c);
            ok += good;
        }
        if (ok == 3)
            return;
        cr_assert_lt(mono_ms() - t0, 20000, "cluster not ok after 20 s");
        msleep(50);
    }
}

#endif
