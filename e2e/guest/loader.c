// SPDX-License-Identifier: GPL-2.0
/* btfids-e2e-load: load a BPF object and test-run each of its programs once.
 *
 * Usage: btfids-e2e-load OBJECT.bpf.o
 *
 * Built statically against Debian's libbpf.a (and libelf.a, libz.a) so it runs in a
 * busybox initramfs. Prints one parseable line per program:
 *   BTFIDS-E2E prog=NAME loaded=1 retval=N          (loaded and ran)
 *   BTFIDS-E2E prog=NAME loaded=1 run_err=-E        (loaded, test run failed)
 *   BTFIDS-E2E prog=NAME loaded=0 err=-E            (libbpf or the verifier refused)
 * After a refused load, the last lines of the verifier log follow, each prefixed
 * "BTFIDS-E2E-VLOG ", and libbpf's own messages are prefixed "BTFIDS-E2E-LIBBPF ".
 * Exit status: 0 when every program loaded and ran, 1 otherwise, 2 on usage errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define LOG_SIZE (4u << 20)
#define LOG_TAIL_LINES 12

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	return printf("BTFIDS-E2E-LIBBPF %s\n", line);
}

/* Print the last LOG_TAIL_LINES non-empty lines of a verifier log. */
static void print_log_tail(const char *log)
{
	const char *starts[LOG_TAIL_LINES];
	int count = 0, i;
	const char *p = log;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len) {
			if (count == LOG_TAIL_LINES)
				memmove(starts, starts + 1, sizeof(starts[0]) * (LOG_TAIL_LINES - 1));
			starts[count == LOG_TAIL_LINES ? LOG_TAIL_LINES - 1 : count++] = p;
		}
		p += len + (end ? 1 : 0);
	}
	for (i = 0; i < count; i++)
		printf("BTFIDS-E2E-VLOG %.*s\n", (int)strcspn(starts[i], "\n"), starts[i]);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	char *log;
	int err, failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJECT.bpf.o\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(print_libbpf);
	log = calloc(1, LOG_SIZE);
	if (!log)
		return 2;
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		printf("BTFIDS-E2E object=%s opened=0 err=%d\n", argv[1], -errno);
		return 1;
	}
	/* One program per object in this check: the log buffer is shared. */
	bpf_object__for_each_program(prog, obj) {
		bpf_program__set_log_buf(prog, log, LOG_SIZE);
		bpf_program__set_log_level(prog, 1);
	}
	err = bpf_object__load(obj);
	bpf_object__for_each_program(prog, obj) {
		LIBBPF_OPTS(bpf_test_run_opts, opts);
		const char *name = bpf_program__name(prog);
		int fd = bpf_program__fd(prog);

		if (err || fd < 0) {
			printf("BTFIDS-E2E prog=%s loaded=0 err=%d\n", name, err ? err : fd);
			print_log_tail(log);
			failed = 1;
			continue;
		}
		if (bpf_prog_test_run_opts(fd, &opts)) {
			printf("BTFIDS-E2E prog=%s loaded=1 run_err=%d\n", name, -errno);
			failed = 1;
			continue;
		}
		printf("BTFIDS-E2E prog=%s loaded=1 retval=%d\n", name, (int)opts.retval);
	}
	bpf_object__close(obj);
	free(log);
	return failed;
}
