/* The agent's store of operation results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_opstore.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

int main(void)
{
	char dir[] = "/tmp/ls-test-opstore-XXXXXX", path[256];
	uint8_t *buf = NULL;
	size_t len = 0, i;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ_INT(agent_opstore_get(dir, 42, &buf, &len), LS_ENOENT);
	CHECK_EQ_INT(agent_opstore_put(dir, 42, (const uint8_t *)"result", 6),
	             0);
	CHECK_EQ_INT(agent_opstore_get(dir, 42, &buf, &len), 0);
	CHECK_EQ_INT(len, 6);
	CHECK(buf != NULL && memcmp(buf, "result", 6) == 0);
	free(buf);
	snprintf(path, sizeof(path), "%s/ops/%016llx.result", dir, 42ULL);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	/* Only the newest results are kept; ids grow with time. */
	for (i = 100; i < 100 + AGENT_OPSTORE_KEEP + 10; i++)
		CHECK_EQ_INT(agent_opstore_put(dir, i, (const uint8_t *)"x", 1),
		             0);
	CHECK_EQ_INT(agent_opstore_get(dir, 42, &buf, &len), LS_ENOENT);
	CHECK_EQ_INT(agent_opstore_get(dir, 100, &buf, &len), LS_ENOENT);
	CHECK_EQ_INT(
	    agent_opstore_get(dir, 100 + AGENT_OPSTORE_KEEP + 9, &buf, &len),
	    0);
	free(buf);
	CHECK_EQ_INT(ls_rmtree(dir), 0);
	return tu_done();
}
