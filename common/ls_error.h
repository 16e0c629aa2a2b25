/* One error type for all of Lockstep: 0 or a negative errno-style int. */
#ifndef LS_ERROR_H
#define LS_ERROR_H

#include <errno.h>

/*
 * Values from -1 to -999 are negated errno values (-ENOMEM, -EINVAL...);
 * Lockstep's own conditions start at -1000 so both fit in one int.
 */
enum {
	LS_OK = 0,
	LS_ENOMEM = -ENOMEM,
	LS_EINVAL = -EINVAL,
	LS_EIO = -EIO,
	LS_ENOENT = -ENOENT,
	LS_EEXIST = -EEXIST,
	LS_EPERM = -EPERM,
	LS_ETIMEDOUT = -ETIMEDOUT,
	LS_ENOSPC = -ENOSPC,

	LS_ECONFIG = -1000,    /* configuration file invalid */
	LS_EPROTO = -1001,     /* undecodable or malformed message */
	LS_ETOOBIG = -1002,    /* length over a hard cap */
	LS_EAUTH = -1003,      /* bad signature or MAC */
	LS_EREPLAY = -1004,    /* replayed or old counter */
	LS_EUNKNOWN = -1005,   /* unknown node or token */
	LS_EREMOVED = -1006,   /* node was removed from the fleet */
	LS_EEXPIRED = -1007,   /* token expired */
	LS_EUSED = -1008,      /* token already used */
	LS_ECRYPTO = -1009,    /* OpenSSL or libsodium failure */
	LS_EDB = -1010,        /* SQLite failure */
	LS_ECHILD = -1011,     /* child process failed */
	LS_ENNG = -1012,       /* nng failure */
	LS_ESESSION = -1013,   /* coordinator asks for a new session */
	LS_EBUSY = -1014,      /* another run holds the resource */
	LS_ESTATE = -1015,     /* operation not valid in this state */
	LS_ENOTJOINED = -1016, /* agent has no identity yet */
	LS_ECHECK = -1017,     /* a check failed */
	LS_EINTEGRITY = -1018, /* data does not match its recorded checksum */
};

/* Never returns NULL. */
const char *ls_strerror(int err);

/* Map a negative nng error into our space, keeping its text. */
int ls_from_nng(int nng_rv);

#endif
