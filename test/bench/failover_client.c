/* failover_client.c — the bare libpq client of bench_failover.sh: what an application without a
 * pool does. It writes in a loop through one connection of the given (multi-host) DSN, and when
 * the connection fails it reconnects in a loop, an attempt every 10 ms, until --seconds are up.
 * Every acknowledged write is a line "<unix time>" on stdout, the form bench_failover.sh reads.
 *
 *   failover_client DSN SECONDS
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: failover_client DSN SECONDS\n");
        return 64;
    }
    const double end = now() + atof(argv[2]);
    long acknowledged = 0, failures = 0;
    PGconn *conn = NULL;
    while (now() < end) {
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            conn = PQconnectdb(argv[1]);
            if (PQstatus(conn) != CONNECTION_OK) {
                ++failures;
                pause_ms(10);
                continue;
            }
        }
        PGresult *r = PQexec(conn, "INSERT INTO failover_probe (client) VALUES ('libpq')");
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            ++acknowledged;
            printf("%.6f\n", now());
        } else {
            ++failures;
            PQfinish(conn); /* a failed write on a failing server: start over on a new connection */
            conn = NULL;
        }
        PQclear(r);
    }
    PQfinish(conn);
    fflush(stdout);
    fprintf(stderr, "failover_client: %ld writes acknowledged, %ld failed attempts\n", acknowledged, failures);
    return acknowledged > 0 ? 0 : 69;
}
