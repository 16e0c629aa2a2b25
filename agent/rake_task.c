/* The migration task list and output tails of RakeTask. */
#include "rake_task.h"

#include <string.h>

/* GitLab's tasks that move each file component to object storage. */
const char *const rake_tasks[] = {
    "gitlab:uploads:migrate:all",
    "gitlab:artifacts:migrate",
    "gitlab:lfs:migrate",
    "gitlab:packages:migrate",
    "gitlab:terraform_states:migrate",
    "gitlab:pages:deployments:migrate",
    "gitlab:ci_secure_files:migrate",
    NULL,
};

int rake_task_allowed(const char *task)
{
	size_t i;

	if (task == NULL)
		return 0;
	for (i = 0; rake_tasks[i] != NULL; i++)
		if (strcmp(task, rake_tasks[i]) == 0)
			return 1;
	return 0;
}

/* Output goes into protobuf strings (UTF-8) and logs. */
static char printable(char c)
{
	unsigned char u = (unsigned char)c;

	if (u >= 0x80)
		return '?';
	if ((u < 0x20 && u != '\n') || u == 0x7f)
		return ' ';
	return c;
}

static int blank(char c)
{
	return c == '\n' || c == '\r' || c == ' ' || c == '\t';
}

size_t rake_tail(const char *text, size_t len, size_t max_lines,
                 size_t max_bytes, char *out, size_t size)
{
	size_t end = len, start, lines = 0, n, i;

	if (size == 0)
		return 0;
	if (max_bytes > size - 1)
		max_bytes = size - 1;
	while (end > 0 && blank(text[end - 1]))
		end--;
	/* Back from the end over max_lines line starts. */
	start = end;
	while (start > 0 && lines < max_lines) {
		start--;
		while (start > 0 && text[start - 1] != '\n')
			start--;
		lines++;
	}
	if (end - start > max_bytes) {
		const char *nl;

		start = end - max_bytes;
		/* Whole lines when one starts inside the window. */
		nl = memchr(text + start, '\n', end - start);
		if (nl != NULL && (size_t)(nl - text) + 1 < end)
			start = (size_t)(nl - text) + 1;
	}
	n = end - start;
	for (i = 0; i < n; i++)
		out[i] = printable(text[start + i]);
	out[n] = '\0';
	return n;
}

void rake_last_line(const char *text, size_t len, char *out, size_t size)
{
	size_t end = len, start, n, i;

	if (size == 0)
		return;
	while (end > 0 && blank(text[end - 1]))
		end--;
	start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	while (start < end && blank(text[start]))
		start++;
	n = end - start < size - 1 ? end - start : size - 1;
	for (i = 0; i < n; i++) {
		char c = printable(text[start + i]);
		out[i] = c == '\n' ? ' ' : c;
	}
	out[n] = '\0';
}
