/*
 * The pure parts of the RakeTask operation: which tasks the agent runs
 * (GitLab's object storage migrations, gitlab-facts §8) and the tail of
 * their output it sends back. No I/O: linked by unit tests.
 */
#ifndef RAKE_TASK_H
#define RAKE_TASK_H

#include <stddef.h>

#define RAKE_TAIL_LINES 20
#define RAKE_TAIL_MAX 4096 /* bytes of output_tail, NUL excluded */
#define RAKE_LINE_MAX 300  /* bytes of the stderr line an error quotes */

/* 1 when task is one of the migration tasks of the fixed list. */
int rake_task_allowed(const char *task);
/* The list, NULL-terminated. */
extern const char *const rake_tasks[];

/*
 * The last max_lines lines of text (trailing blank lines dropped), at most
 * max_bytes of them (whole lines when the last lines fit, else the end of
 * the last line), printable ASCII and newlines, into out (size >
 * max_bytes). Returns the length written.
 */
size_t rake_tail(const char *text, size_t len, size_t max_lines,
                 size_t max_bytes, char *out, size_t size);

/* The last non-blank line of text, printable, at most size - 1 bytes. */
void rake_last_line(const char *text, size_t len, char *out, size_t size);

#endif
