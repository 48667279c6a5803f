/*
 * The same "service" as leaky.c without the leak: sessions are closed
 * once 64 newer ones are open, so what it holds stays flat however many
 * requests it serves. Built and run by crates/leakwatch/tests/it/native.rs.
 *
 * Usage: healthy REQUESTS [PER_SECOND]   (paced when PER_SECOND > 0, as a
 * service under steady load is)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPEN_SESSIONS 64

struct session {
	char data[4096];
};

static struct session *sessions[OPEN_SESSIONS];

__attribute__((noinline)) static void open_session(int i)
{
	struct session *s = malloc(sizeof *s);
	memset(s->data, 1, sizeof s->data);
	free(sessions[i % OPEN_SESSIONS]);
	sessions[i % OPEN_SESSIONS] = s;
}

__attribute__((noinline)) static void scratch_work(void)
{
	char *buf = malloc(1024);
	memset(buf, 2, 1024);
	free(buf);
}

__attribute__((noinline)) static void handle_request(int i)
{
	open_session(i);
	scratch_work();
}

int main(int argc, char **argv)
{
	int requests = argc > 1 ? atoi(argv[1]) : 20000;
	int per_second = argc > 2 ? atoi(argv[2]) : 0;
	struct timespec pause = { 0, per_second > 0 ? 1000000000L / per_second : 0 };
	for (int i = 0; i < requests; i++) {
		if (per_second > 0)
			nanosleep(&pause, NULL);
		handle_request(i);
	}
	return 0;
}
