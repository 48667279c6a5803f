/*
 * A "service" that leaks: every request opens a session that is never
 * closed, and uses a scratch buffer that is freed. Built as a PIE against
 * jemalloc or tcmalloc by crates/leakwatch/tests/it/native.rs, which runs
 * it with heap dumping on and reads the dumps.
 *
 * Usage: leaky REQUESTS [PER_SECOND]   (paced when PER_SECOND > 0, as a
 * service under steady load is)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct session {
	struct session *next;
	char data[4088];
};

static struct session *sessions;

/* noinline: each function keeps a frame of its own in the stacks. */
__attribute__((noinline)) static struct session *open_session(void)
{
	struct session *s = malloc(sizeof *s);
	memset(s->data, 1, sizeof s->data);
	s->next = sessions;
	sessions = s;
	return s;
}

__attribute__((noinline)) static void scratch_work(void)
{
	char *buf = malloc(1024);
	memset(buf, 2, 1024);
	free(buf);
}

__attribute__((noinline)) static void handle_request(void)
{
	open_session();
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
		handle_request();
	}
	return 0;
}
