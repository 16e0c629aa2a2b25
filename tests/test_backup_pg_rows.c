/*
 * backup_pg_rows: row counts from pg_dump's plain output, fed whole, byte
 * by byte and at every split, and what makes the counts void.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_pg_rows.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

#define ANCHOR(t, s)                                                           \
	"--\n-- Data for Name: " t "; Type: TABLE DATA; Schema: " s            \
	"; Owner: git\n--\n\n"

/* What pg_dump 15 wrote for these tables (values with a newline, a
 * leading "\." and an empty string; quoted names; no columns). */
static const char dump_ok[] =
    "--\n-- PostgreSQL database dump\n--\n\n"
    "SET statement_timeout = 0;\n"
    "CREATE FUNCTION public.f() RETURNS void\n    LANGUAGE sql\n    AS $$\n"
    "SELECT 1;\n$$;\n" ANCHOR(
        "Ta ble",
        "We\"ird") "COPY \"We\"\"ird\".\"Ta ble\" (a, \"B\") FROM stdin;\n"
                   "x\\ny\t1\n\\\\.\t2\n\t3\n\\N\t4\n\\.\n\n" ANCHOR(
                       "e", "publ"
                            "ic") "COPY public.e  FROM "
                                  "stdin;\n\n\\.\n\n" ANCHOR("p1",
                                                             "public") "COPY "
                                                                       "public."
                                                                       "p1 "
                                                                       "(id) "
                                                                       "FROM "
                                                                       "stdin;"
                                                                       "\n1\n2"
                                                                       "\n\\."
                                                                       "\n"
                                                                       "\n" ANCHOR(
                                                                           "non"
                                                                           "e",
                                                                           "pub"
                                                                           "li"
                                                                           "c") "COPY"
                                                                                " pub"
                                                                                "lic."
                                                                                "none"
                                                                                " ("
                                                                                "id) "
                                                                                "FROM"
                                                                                " std"
                                                                                "in;"
                                                                                "\n\\"
                                                                                ".\n"
                                                                                "\n"
                                                                                "--"
                                                                                "\n--"
                                                                                " Nam"
                                                                                "e: "
                                                                                "p1 "
                                                                                "p1_"
                                                                                "pkey"
                                                                                "; "
                                                                                "Type"
                                                                                ": "
                                                                                "CONS"
                                                                                "TRAI"
                                                                                "NT; "
                                                                                "Sche"
                                                                                "ma: "
                                                                                "publ"
                                                                                "ic; "
                                                                                "Owne"
                                                                                "r: "
                                                                                "git"
                                                                                "\n"
                                                                                "--"
                                                                                "\n\n"
                                                                                "ALTE"
                                                                                "R "
                                                                                "TABL"
                                                                                "E "
                                                                                "ONLY"
                                                                                " pub"
                                                                                "lic."
                                                                                "p1\n"
                                                                                "    "
                                                                                "ADD "
                                                                                "CONS"
                                                                                "TRAI"
                                                                                "NT "
                                                                                "p1_"
                                                                                "pkey"
                                                                                " PRI"
                                                                                "MARY"
                                                                                " KEY"
                                                                                " ("
                                                                                "id);"
                                                                                "\n"
                                                                                "\n--"
                                                                                "\n--"
                                                                                " Pos"
                                                                                "tgre"
                                                                                "SQL "
                                                                                "data"
                                                                                "base"
                                                                                " dum"
                                                                                "p "
                                                                                "comp"
                                                                                "lete"
                                                                                "\n--"
                                                                                "\n"
                                                                                "\n";

struct seen {
	int n;
	char names[8][64];
	uint64_t rows[8];
};

static int on_table(void *arg, const char *name, uint64_t rows)
{
	struct seen *s = arg;

	if (s->n < 8) {
		ls_strlcpy(s->names[s->n], name, sizeof(s->names[0]));
		s->rows[s->n] = rows;
	}
	s->n++;
	return 0;
}

/* Feeds text in pieces of step bytes (0: at split only); returns finish's
 * result with the tables in s. */
static int count(const char *text, size_t len, size_t step, size_t split,
                 struct seen *s, char *why, size_t whylen)
{
	struct backup_pg_rows *r = backup_pg_rows_new();
	size_t off = 0;
	int rv = 0;

	memset(s, 0, sizeof(*s));
	if (r == NULL)
		return LS_ENOMEM;
	if (step == 0) {
		if ((rv = backup_pg_rows_feed(r, text, split)) == 0)
			rv = backup_pg_rows_feed(r, text + split, len - split);
	} else {
		for (off = 0; off < len && rv == 0; off += step)
			rv = backup_pg_rows_feed(
			    r, text + off, len - off < step ? len - off : step);
	}
	if (rv == 0)
		rv = backup_pg_rows_finish(r, on_table, s);
	if (why != NULL)
		ls_strlcpy(why, backup_pg_rows_why(r), whylen);
	backup_pg_rows_free(r);
	return rv;
}

static void test_counts(void)
{
	size_t len = strlen(dump_ok), i;
	struct seen s, t;

	CHECK_EQ_INT(count(dump_ok, len, len, 0, &s, NULL, 0), 0);
	CHECK_EQ_INT(s.n, 4);
	CHECK_STR(s.names[0], "We\"ird.Ta ble");
	CHECK_EQ_INT(s.rows[0], 4);
	CHECK_STR(s.names[1], "public.e");
	CHECK_EQ_INT(s.rows[1], 1);
	CHECK_STR(s.names[2], "public.p1");
	CHECK_EQ_INT(s.rows[2], 2);
	CHECK_STR(s.names[3], "public.none");
	CHECK_EQ_INT(s.rows[3], 0);

	/* Wherever the pipe splits the stream, the counts are the same. */
	CHECK_EQ_INT(count(dump_ok, len, 1, 0, &t, NULL, 0), 0);
	CHECK(memcmp(&s, &t, sizeof(s)) == 0);
	for (i = 0; i <= len; i++) {
		CHECK_EQ_INT(count(dump_ok, len, 0, i, &t, NULL, 0), 0);
		CHECK(memcmp(&s, &t, sizeof(s)) == 0);
	}
}

static void expect_void(const char *what, const char *text, size_t len,
                        const char *reason)
{
	struct seen s;
	char why[256];
	int rv = count(text, len, len ? len : 1, 0, &s, why, sizeof(why));

	if (rv != LS_EPROTO)
		fprintf(stderr, "%s: %d\n", what, rv);
	CHECK_EQ_INT(rv, LS_EPROTO);
	CHECK_CONTAINS(why, reason);
	CHECK_EQ_INT(s.n, 0);
}

static void test_void(void)
{
	static const char body[] =
	    "CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$\n"
	    "COPY public.e (x) FROM stdin;\n$$;\n" ANCHOR(
	        "e", "public") "COPY public.e (x) FROM stdin;\n1\n\\.\n";
	static const char other[] =
	    ANCHOR("a", "public") "COPY public.b (x) FROM stdin;\n1\n\\.\n";
	static const char stale[] =
	    ANCHOR("a", "public") "SET search_path = x;\nCOPY public.a (x) "
	                          "FROM stdin;\n1\n\\.\n";
	static const char cut[] =
	    ANCHOR("a", "public") "COPY public.a (x) FROM stdin;\n1\n2\n";
	static const char odd[] =
	    ANCHOR("a", "public") "COPY public.A (x) FROM stdin;\n\\.\n";
	char *big;
	size_t n;

	/* A COPY line in a function body is not taken for data. */
	expect_void("body", body, strlen(body),
	            "COPY without its TABLE DATA comment");
	expect_void("other", other, strlen(other), "public.b");
	expect_void("stale", stale, strlen(stale), "public.a");
	expect_void("cut", cut, strlen(cut), "ends inside the data of");
	expect_void("odd", odd, strlen(odd), "unreadable COPY line");

	/* A COPY line past the cap; a long line of another kind is fine. */
	{
		static const char head[] =
		    ANCHOR("a", "public") "COPY public.a (";
		static const char tail[] = ") FROM stdin;\n";
		static const char after[] = "\n" ANCHOR(
		    "a", "public") "COPY public.a (x) FROM stdin;\n7\n\\.\n";
		size_t off = sizeof(head) - 1;

		n = sizeof(head) + 70000 + sizeof(tail) + sizeof(after);
		big = malloc(n);
		CHECK(big != NULL);
		if (big == NULL)
			return;
		memcpy(big, head, off);
		memset(big + off, 'x', 70000);
		memcpy(big + off + 70000, tail, sizeof(tail));
		expect_void("long", big, strlen(big), "COPY line too long");
		memset(big, 'S', 70000);
		memcpy(big + 70000, after, sizeof(after));
	}
	{
		struct seen s;

		CHECK_EQ_INT(count(big, strlen(big), 4096, 0, &s, NULL, 0), 0);
		CHECK_EQ_INT(s.n, 1);
		CHECK_EQ_INT(s.rows[0], 1);
	}
	free(big);
}

int main(void)
{
	test_counts();
	test_void();
	return tu_done();
}
