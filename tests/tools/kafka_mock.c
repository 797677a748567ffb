/*
 * kafka_mock - librdkafka's mock Kafka cluster as a process, for tests and
 * for trying freshet's Kafka sources on a machine without a broker
 * (`make kafka-mock` builds it; README.md "With Kafka").
 *
 *   kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... [--port PORT] [--forever]
 *
 * The brokers listen on loopback ports the system picks.  --port PORT also
 * listens on 127.0.0.1:PORT and forwards each connection there to the
 * first broker: a fixed bootstrap address (9092) for configurations written
 * for a real cluster; clients learn the brokers' own addresses from it.
 * --forever reads no commands: it runs until SIGINT or SIGTERM (for a shell's
 * `&`, where reading the terminal would stop it).
 *
 * Prints "bootstrap HOST:PORT,..." once the cluster listens (then, with
 * --port, "forwarding 127.0.0.1:PORT to HOST:PORT"), then reads
 * commands from stdin, one per line, answering "ok" or "error ..." each:
 *   topic NAME PARTITIONS        create a topic
 *   down BROKER | up BROKER      take a broker down / bring it back
 *   errors APIKEY CODE COUNT     the next COUNT requests of APIKEY fail with
 *                                CODE (e.g. Fetch=1 Produce=0; CODE a Kafka
 *                                error number, -195 for a disconnect)
 *   clear APIKEY                 forget pushed errors of APIKEY
 *   rtt BROKER MS                add MS of latency to a broker
 *   quit                         (or end of input) stop
 * Real clients (freshet, kcat, python3-confluent-kafka) connect to the
 * bootstrap list over loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FORWARDED 256 /* connections through --port at once */

static volatile sig_atomic_t g_stop;
static struct sockaddr_in g_target; /* the first broker */
static int g_conns;                 /* forwarded connections open (atomic) */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Copies bytes both ways between a client and the broker until either ends. */
static void *pump(void *arg)
{
    int c = (int)(intptr_t)arg, b = socket(AF_INET, SOCK_STREAM, 0);
    if (b >= 0 && connect(b, (struct sockaddr *)&g_target, sizeof g_target) == 0) {
        struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = b, .events = POLLIN}};
        char buf[65536];
        for (int done = 0; !done && !g_stop;) {
            if (poll(p, 2, 500) < 0 && errno != EINTR)
                break;
            for (int i = 0; i < 2 && !done; i++) {
                if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                ssize_t n = read(p[i].fd, buf, sizeof buf);
                done = n <= 0;
                for (ssize_t off = 0; !done && off < n;) {
                    ssize_t w = write(p[1 - i].fd, buf + off, (size_t)(n - off));
                    done = w <= 0;
                    off += w > 0 ? w : 0;
                }
            }
        }
    }
    if (b >= 0)
        close(b);
    close(c);
    __atomic_sub_fetch(&g_conns, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void *accept_main(void *arg)
{
    int l = (int)(intptr_t)arg;
    while (!g_stop) {
        struct pollfd p = {.fd = l, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        pthread_t t;
        if (__atomic_add_fetch(&g_conns, 1, __ATOMIC_RELAXED) > MAX_FORWARDED ||
            pthread_create(&t, NULL, pump, (void *)(intptr_t)c)) {
            __atomic_sub_fetch(&g_conns, 1, __ATOMIC_RELAXED);
            close(c);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

/* Listens on 127.0.0.1:port and forwards to the first broker of bootstraps
 * ("127.0.0.1:P1,..."): 0, or -1 with a message on stderr. */
static int forward(int port, const char *bootstraps)
{
    char host[64];
    int bport = 0;
    if (sscanf(bootstraps, "%63[^:]:%d", host, &bport) != 2 ||
        inet_pton(AF_INET, host, &g_target.sin_addr) != 1) {
        fprintf(stderr, "kafka_mock: cannot read the broker address '%s'\n", bootstraps);
        return -1;
    }
    g_target.sin_family = AF_INET;
    g_target.sin_port = htons((uint16_t)bport);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 64)) {
        fprintf(stderr, "kafka_mock: cannot listen on 127.0.0.1:%d: %s\n", port,
                strerror(errno));
        return -1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, accept_main, (void *)(intptr_t)l)) {
        fprintf(stderr, "kafka_mock: cannot start the forwarder\n");
        return -1;
    }
    pthread_detach(t);
    printf("forwarding 127.0.0.1:%d to %s:%d\n", port, host, bport);
    return 0;
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *name, int parts)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, parts, 1);
    if (e) {
        printf("error %s\n", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int brokers = 3;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    int port = 0, forever = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            brokers = (int)strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = (int)strtol(argv[++i], NULL, 10);
            if (port <= 0 || port > 65535) {
                fprintf(stderr, "kafka_mock: --port wants 1..65535\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--forever")) {
            forever = 1;
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            i++;
        } else {
            fprintf(stderr, "usage: kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... "
                            "[--port PORT] [--forever]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            char name[256];
            int parts = 1;
            const char *spec = argv[++i], *colon = strrchr(spec, ':');
            size_t nl = colon ? (size_t)(colon - spec) : strlen(spec);
            if (nl >= sizeof name)
                return 2;
            memcpy(name, spec, nl);
            name[nl] = 0;
            if (colon)
                parts = (int)strtol(colon + 1, NULL, 10);
            if (create_topic(mc, name, parts))
                return 1;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    signal(SIGPIPE, SIG_IGN);
    if (port && forward(port, rd_kafka_mock_cluster_bootstraps(mc)))
        return 1;
    if (forever) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        while (!g_stop) {
            struct timespec ts = {0, 200000000};
            nanosleep(&ts, NULL);
        }
    }
    char line[1024];
    while (!forever && fgets(line, sizeof line, stdin)) {
        char cmd[32], a[256];
        long b = 0, c = 0;
        int n = sscanf(line, "%31s %255s %ld %ld", cmd, a, &b, &c);
        if (n <= 0)
            continue;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!strcmp(cmd, "quit")) {
            break;
        } else if (!strcmp(cmd, "topic") && n >= 3) {
            if (create_topic(mc, a, (int)b))
                continue;
        } else if (!strcmp(cmd, "down") && n >= 2) {
            e = rd_kafka_mock_broker_set_down(mc, (int32_t)strtol(a, NULL, 10));
        } else if (!strcmp(cmd, "up") && n >= 2) {
            e = rd_kafka_mock_broker_set_up(mc, (int32_t)strtol(a, NULL, 10));
        } else if (!strcmp(cmd, "rtt") && n >= 3) {
            e = rd_kafka_mock_broker_set_rtt(mc, (int32_t)strtol(a, NULL, 10), (int)b);
        } else if (!strcmp(cmd, "errors") && n >= 4) {
            size_t cnt = (size_t)c;
            rd_kafka_resp_err_t *errs = calloc(cnt ? cnt : 1, sizeof *errs);
            if (!errs)
                return 1;
            for (size_t k = 0; k < cnt; k++)
                errs[k] = (rd_kafka_resp_err_t)b;
            rd_kafka_mock_push_request_errors_array(mc, (int16_t)strtol(a, NULL, 10), cnt, errs);
            free(errs);
        } else if (!strcmp(cmd, "clear") && n >= 2) {
            rd_kafka_mock_clear_request_errors(mc, (int16_t)strtol(a, NULL, 10));
        } else {
            printf("error unknown command\n");
            continue;
        }
        if (e)
            printf("error %s\n", rd_kafka_err2str(e));
        else
            printf("ok\n");
    }
    g_stop = 1;
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
