/*
 * The same "service" as leaky.c without the leak: sessions are closed
 * once 64 newer ones are open, so what it holds stays flat however many
 * requests it serves. Built and run by crates/leakwatch/tests/it/native.rs.
 *
 * Usage: healthy REQUESTS
 */
#include <stdlib.h>
#include <string.h>

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
	for (int i = 0; i < requests; i++)
		handle_request(i);
	return 0;
}
