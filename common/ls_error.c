#include "ls_error.h"

#include <string.h>

#include <nng/nng.h>

static const struct {
	int code;
	const char *text;
} ls_errors[] = {
    {LS_ECONFIG, "invalid configuration"},
    {LS_EPROTO, "malformed message"},
    {LS_ETOOBIG, "too large"},
    {LS_EAUTH, "authentication failed"},
    {LS_EREPLAY, "replayed or old message counter"},
    {LS_EUNKNOWN, "unknown node or token"},
    {LS_EREMOVED, "node was removed from the fleet"},
    {LS_EEXPIRED, "token expired"},
    {LS_EUSED, "token already used"},
    {LS_ECRYPTO, "cryptographic operation failed"},
    {LS_EDB, "database error"},
    {LS_ECHILD, "child process failed"},
    {LS_ENNG, "messaging error"},
    {LS_ESESSION, "session must be renewed"},
    {LS_EBUSY, "resource busy"},
    {LS_ESTATE, "operation not valid in this state"},
    {LS_ENOTJOINED, "agent has not joined a fleet"},
    {LS_ECHECK, "a check failed"},
    {LS_EINTEGRITY, "does not match its recorded checksum"},
};

const char *ls_strerror(int err)
{
	size_t i;

	if (err == 0)
		return "success";
	for (i = 0; i < sizeof(ls_errors) / sizeof(ls_errors[0]); i++)
		if (ls_errors[i].code == err)
			return ls_errors[i].text;
	if (err < 0 && err > -1000)
		return strerror(-err);
	return "unknown error";
}

int ls_from_nng(int nng_rv)
{
	switch (nng_rv) {
	case 0:
		return 0;
	case NNG_ENOMEM:
		return LS_ENOMEM;
	case NNG_ETIMEDOUT:
		return LS_ETIMEDOUT;
	case NNG_EMSGSIZE:
		return LS_ETOOBIG;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return LS_EINVAL;
	default:
		return LS_ENNG;
	}
}
