/* The upgrade plan as a document (cli_upgrade_doc.c gathers it,
 * cli_upgrade_doc_render.c prints it). */
#ifndef CLI_UPGRADE_DOC_H
#define CLI_UPGRADE_DOC_H

#include <jansson.h>

#include "cli.h"

struct cli_upgrade_doc_opts {
	const char *format;   /* "text", "markdown", "json" */
	const char *output;   /* NULL: stdout */
	const char *os_table; /* NULL: the shipped supported-os.txt */
};

/*
 * Gathers status, checks and the backup catalog around the plan ur (plan
 * is its JSON form) and writes the document as o says.
 */
int cli_upgrade_doc(struct cli *cli, const Ls__UpgradeResp *ur, json_t *plan,
                    const struct cli_upgrade_doc_opts *o);
/* Renders doc; output is written atomically (temp, fsync, rename). */
int cli_upgrade_doc_write(json_t *doc, const char *format, const char *output);
/* Whether format names one of the three. */
int cli_upgrade_doc_format_ok(const char *format);

#endif
