/*
 * kafka_mock - librdkafka's mock Kafka cluster as a process, for tests.
 *
 *   kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Prints "bootstrap HOST:PORT,..." once the cluster listens, then reads
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
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = (int)strtol(argv[++i], NULL, 10);
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
    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
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
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
