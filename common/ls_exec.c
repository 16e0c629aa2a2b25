#include "ls_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_util.h"

/* How long a process group gets between SIGTERM and SIGKILL. */
#define EXEC_GRACE_MS 2000
/* How long pipes held open by a leftover grandchild are drained. */
#define EXEC_LINGER_MS 200
#define EXEC_CHUNK 65536

static const char *const exec_default_env[] = {
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C", NULL};

struct exec_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	int over;
};

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Keeps at most b->max bytes; anything beyond sets b->over. */
static int buf_append(struct exec_buf *b, const uint8_t *p, size_t n)
{
	size_t room = b->max - b->len;

	if (n > room) {
		b->over = 1;
		n = room;
	}
	if (n == 0)
		return 0;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		uint8_t *nd;

		while (ncap < b->len + n + 1)
			ncap = ncap > SIZE_MAX / 2 ? b->len + n + 1 : ncap * 2;
		nd = realloc(b->data, ncap);
		if (nd == NULL)
			return LS_ENOMEM;
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int buf_finish(struct exec_buf *b)
{
	if (b->data == NULL) {
		b->data = malloc(1);
		if (b->data == NULL)
			return LS_ENOMEM;
		b->data[0] = '\0';
		b->cap = 1;
	}
	return 0;
}

/* A copy of fd at 3 or above, so that no dup2 onto 0-2 clobbers another
 * source when the caller runs with some of 0-2 closed. */
static int lift_fd(int fd, int *owned)
{
	int nfd;

	*owned = -1;
	if (fd >= 3)
		return fd;
	if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -errno;
	*owned = nfd;
	return nfd;
}

/*
 * Starts o->argv with in_fd, out_fd and err_fd as its 0, 1 and 2, nothing
 * else open, every signal at its default and none blocked, in a process
 * group of its own, in o->cwd if set. posix_spawn, not fork: glibc's runs
 * the child on the parent's memory until execve (CLONE_VM|CLONE_VFORK), so
 * a start costs no copy of the page tables, which a parent with large
 * buffers and several threads (a backup copy) would pay for every git it
 * starts; it also reports a failed chdir or execve as its return value.
 */
static int spawn_child(const struct ls_exec_opts *o, int in_fd, int out_fd,
                       int err_fd, pid_t *pid)
{
	const char *const *envp = o->envp ? o->envp : exec_default_env;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	int own[3] = {-1, -1, -1}, fds[3] = {in_fd, out_fd, err_fd};
	int rv = 0, i, e;

	for (i = 0; i < 3 && rv == 0; i++)
		if ((fds[i] = lift_fd(fds[i], &own[i])) < 0)
			rv = fds[i];
	if (rv < 0)
		goto out_fds;
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		rv = -e;
		goto out_fds;
	}
	if ((e = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		rv = -e;
		goto out_fds;
	}
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	sigemptyset(&none);
	/* Ignored signals and the mask survive execve: give the child the
	 * defaults it expects (SIGPIPE above all). */
	e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	                                      POSIX_SPAWN_SETSIGDEF |
	                                      POSIX_SPAWN_SETSIGMASK);
	if (e == 0)
		e = posix_spawnattr_setpgroup(&at, 0);
	if (e == 0)
		e = posix_spawnattr_setsigdefault(&at, &all);
	if (e == 0)
		e = posix_spawnattr_setsigmask(&at, &none);
	for (i = 0; i < 3 && e == 0; i++)
		e = posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	if (e == 0)
		e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (e == 0 && o->cwd != NULL)
		e = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	if (e == 0)
		e = posix_spawn(pid, o->argv[0], &fa, &at,
		                (char *const *)o->argv, (char *const *)envp);
	rv = -e;
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
out_fds:
	for (i = 0; i < 3; i++)
		close_fd(&own[i]);
	return rv;
}

/* Non-reaping exit test: the zombie keeps the pgid reserved for kill(). */
static int child_gone(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return si.si_pid == pid;
}

static void kill_group(pid_t pid)
{
	int64_t until;

	kill(-pid, SIGTERM);
	until = ls_mono_ms() + EXEC_GRACE_MS;
	while (!child_gone(pid) && ls_mono_ms() < until) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	/* Also reaches group members that outlived the leader. */
	kill(-pid, SIGKILL);
}

static void reap(pid_t pid, struct ls_exec_result *res)
{
	int wst;

	while (waitpid(pid, &wst, 0) < 0) {
		if (errno != EINTR)
			return;
	}
	if (WIFEXITED(wst)) {
		res->exited = 1;
		res->status = WEXITSTATUS(wst);
	} else if (WIFSIGNALED(wst)) {
		res->status = WTERMSIG(wst);
	}
}

/*
 * write() to a pipe whose reader is gone raises SIGPIPE: block it around
 * the write and swallow only a SIGPIPE this write caused, so the process
 * disposition is left alone.
 */
static ssize_t write_nosigpipe(int fd, const void *p, size_t n)
{
	sigset_t pipeset, pending, old;
	int was_pending, e;
	ssize_t w;

	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	if (!was_pending)
		pthread_sigmask(SIG_BLOCK, &pipeset, &old);
	w = write(fd, p, n);
	e = errno;
	if (!was_pending) {
		if (w < 0 && e == EPIPE) {
			struct timespec zero = {0, 0};
			while (sigtimedwait(&pipeset, NULL, &zero) < 0 &&
			       errno == EINTR)
				;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	errno = e;
	return w;
}

ssize_t ls_exec_write(int fd, const void *buf, size_t n)
{
	return write_nosigpipe(fd, buf, n);
}

/* Reads what is available; returns 1 at EOF, 0 otherwise, <0 on error. */
static int drain(int fd, struct exec_buf *b)
{
	uint8_t chunk[EXEC_CHUNK];
	ssize_t n;
	int rv;

	n = read(fd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (n == 0)
		return 1;
	rv = buf_append(b, chunk, (size_t)n);
	return rv < 0 ? rv : 0;
}

struct exec_io {
	int in, out, err;
	const uint8_t *in_data;
	size_t in_left;
	struct exec_buf ob, eb;
};

/*
 * One poll round. Returns 0 to continue, 1 when all pipes are closed, or a
 * negative error.
 */
static int io_round(struct exec_io *io, int timeout)
{
	struct pollfd pfd[3];
	int n = 0, i, rv, idx_in = -1, idx_out = -1, idx_err = -1;

	if (io->in >= 0) {
		idx_in = n;
		pfd[n++] = (struct pollfd){io->in, POLLOUT, 0};
	}
	if (io->out >= 0) {
		idx_out = n;
		pfd[n++] = (struct pollfd){io->out, POLLIN, 0};
	}
	if (io->err >= 0) {
		idx_err = n;
		pfd[n++] = (struct pollfd){io->err, POLLIN, 0};
	}
	if (io->out < 0 && io->err < 0) {
		/* Nobody reads the child's output: stdin is moot. */
		close_fd(&io->in);
		return 1;
	}
	rv = poll(pfd, (nfds_t)n, timeout);
	if (rv < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (i == idx_in) {
			size_t len =
			    io->in_left > EXEC_CHUNK ? EXEC_CHUNK : io->in_left;
			ssize_t w = 0;

			if (pfd[i].revents & POLLOUT)
				w = write_nosigpipe(io->in, io->in_data, len);
			if (w > 0) {
				io->in_data += w;
				io->in_left -= (size_t)w;
			}
			/* EPIPE: the child stopped reading; that is its
			 * business, not an error of ours. */
			if (io->in_left == 0 ||
			    (w < 0 && errno != EAGAIN && errno != EINTR) ||
			    (pfd[i].revents & (POLLERR | POLLHUP)))
				close_fd(&io->in);
		} else if (i == idx_out) {
			rv = drain(io->out, &io->ob);
			if (rv < 0)
				return rv;
			if (rv == 1)
				close_fd(&io->out);
		} else if (i == idx_err) {
			rv = drain(io->err, &io->eb);
			if (rv < 0)
				return rv;
			if (rv == 1)
				close_fd(&io->err);
		}
	}
	return 0;
}

static int make_pipe(int p[2], int nonblock_end)
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (nonblock_end >= 0) {
		int fl = fcntl(p[nonblock_end], F_GETFL);
		if (fl < 0 ||
		    fcntl(p[nonblock_end], F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	return 0;
}

int ls_exec_run(const struct ls_exec_opts *opts, struct ls_exec_result *res)
{
	struct exec_io io;
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	int devnull = -1, rv;
	int64_t deadline = 0, linger_until = 0;
	pid_t pid = -1;

	memset(res, 0, sizeof(*res));
	memset(&io, 0, sizeof(io));
	io.in = io.out = io.err = -1;
	io.ob.max = opts->max_stdout;
	io.eb.max = opts->max_stderr;
	if (opts->argv == NULL || opts->argv[0] == NULL ||
	    opts->argv[0][0] != '/') {
		rv = LS_EINVAL;
		goto out;
	}
	if (opts->stdin_data != NULL) {
		if ((rv = make_pipe(pin, 1)) < 0)
			goto out;
	} else {
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0) {
			rv = -errno;
			goto out;
		}
	}
	if ((rv = make_pipe(pout, 0)) < 0 || (rv = make_pipe(perr, 0)) < 0)
		goto out;
	if (opts->timeout_ms > 0)
		deadline = ls_mono_ms() + opts->timeout_ms;

	if ((rv = spawn_child(opts, devnull >= 0 ? devnull : pin[0], pout[1],
	                      perr[1], &pid)) < 0) {
		pid = -1;
		goto out;
	}
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	close_fd(&devnull);
	io.in = pin[1];
	io.out = pout[0];
	io.err = perr[0];
	pin[1] = pout[0] = perr[0] = -1;
	io.in_data = opts->stdin_data;
	io.in_left = opts->stdin_len;
	if (io.in >= 0 && io.in_left == 0)
		close_fd(&io.in);

	for (;;) {
		int64_t now = ls_mono_ms();
		int timeout = 100;

		if (deadline && now >= deadline) {
			res->timed_out = 1;
			kill_group(pid);
			rv = LS_ETIMEDOUT;
			goto out;
		}
		if (deadline && deadline - now < timeout)
			timeout = (int)(deadline - now);
		/* A grandchild may hold our pipes after the child exited:
		 * take what is buffered, then stop waiting for it. */
		if (!linger_until && child_gone(pid))
			linger_until = now + EXEC_LINGER_MS;
		if (linger_until && now >= linger_until) {
			kill(-pid, SIGKILL);
			break;
		}
		if (linger_until)
			timeout = 10;
		rv = io_round(&io, timeout);
		if (rv < 0) {
			kill_group(pid);
			goto out;
		}
		if (io.ob.over) {
			kill_group(pid);
			rv = LS_ETOOBIG;
			goto out;
		}
		if (rv == 1)
			break;
	}
	/* Pipes are closed; the child may still run until the deadline. */
	while (!child_gone(pid)) {
		int64_t now = ls_mono_ms();
		struct timespec ts = {0, 10 * 1000000L};

		if (deadline && now >= deadline) {
			res->timed_out = 1;
			kill_group(pid);
			rv = LS_ETIMEDOUT;
			goto out;
		}
		if (!deadline) {
			reap(pid, res);
			pid = -1;
			break;
		}
		nanosleep(&ts, NULL);
	}
	rv = 0;
out:
	if (pid > 0)
		reap(pid, res);
	close_fd(&io.in);
	close_fd(&io.out);
	close_fd(&io.err);
	close_fd(&pin[0]);
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&perr[0]);
	close_fd(&perr[1]);
	close_fd(&devnull);
	if (buf_finish(&io.ob) < 0 || buf_finish(&io.eb) < 0) {
		if (rv == 0)
			rv = LS_ENOMEM;
	}
	res->out = io.ob.data;
	res->out_len = io.ob.len;
	res->err = (char *)io.eb.data;
	res->err_len = io.eb.len;
	return rv;
}

void ls_exec_result_free(struct ls_exec_result *res)
{
	if (res == NULL)
		return;
	free(res->out);
	free(res->err);
	res->out = NULL;
	res->err = NULL;
	res->out_len = res->err_len = 0;
}

/* stdin_fd: >= 0 given to the child as is; SPAWN_PIPE a pipe; else
 * /dev/null. */
#define SPAWN_PIPE (-2)

static int spawn(const struct ls_exec_opts *opts, int stdin_fd, int stdout_fd,
                 struct ls_proc *p)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1};
	int devnull = -1, errf = -1, rv, in_fd = stdin_fd;
	pid_t pid;

	p->pid = -1;
	p->in_fd = p->out_fd = p->err_fd = -1;
	if (opts->argv == NULL || opts->argv[0] == NULL ||
	    opts->argv[0][0] != '/')
		return LS_EINVAL;
	if (stdin_fd == SPAWN_PIPE) {
		if ((rv = make_pipe(pin, -1)) < 0)
			goto out;
		in_fd = pin[0];
	} else if (stdin_fd < 0) {
		if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
			rv = -errno;
			goto out;
		}
		in_fd = devnull;
	}
	if (stdout_fd < 0 && (rv = make_pipe(pout, -1)) < 0)
		goto out;
	if ((errf = memfd_create("ls-exec-stderr", MFD_CLOEXEC)) < 0) {
		rv = -errno;
		goto out;
	}
	if ((rv = spawn_child(opts, in_fd, stdout_fd >= 0 ? stdout_fd : pout[1],
	                      errf, &pid)) < 0)
		goto out;
	p->pid = pid;
	p->in_fd = pin[1];
	p->out_fd = pout[0];
	p->err_fd = errf;
	pin[1] = pout[0] = errf = -1;
	rv = 0;
out:
	close_fd(&pin[0]);
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&devnull);
	close_fd(&errf);
	return rv;
}

int ls_exec_spawn(const struct ls_exec_opts *opts, int want_stdin,
                  int stdout_fd, struct ls_proc *p)
{
	return spawn(opts, want_stdin ? SPAWN_PIPE : -1, stdout_fd, p);
}

int ls_exec_spawn_from(const struct ls_exec_opts *opts, int stdin_fd,
                       int stdout_fd, struct ls_proc *p)
{
	if (stdin_fd < 0) {
		p->pid = -1;
		p->in_fd = p->out_fd = p->err_fd = -1;
		return LS_EINVAL;
	}
	return spawn(opts, stdin_fd, stdout_fd, p);
}

int ls_exec_wait(struct ls_proc *p, int timeout_ms, size_t max_stderr,
                 struct ls_exec_result *res)
{
	int64_t deadline = timeout_ms > 0 ? ls_mono_ms() + timeout_ms : 0;
	int rv = 0;

	memset(res, 0, sizeof(*res));
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	if (p->pid > 0) {
		while (!child_gone(p->pid)) {
			struct timespec ts = {0, 10 * 1000000L};

			if (deadline && ls_mono_ms() >= deadline) {
				res->timed_out = 1;
				kill_group(p->pid);
				rv = LS_ETIMEDOUT;
				break;
			}
			nanosleep(&ts, NULL);
		}
		reap(p->pid, res);
		p->pid = -1;
	}
	if (p->err_fd >= 0) {
		struct exec_buf eb;
		uint8_t chunk[4096];
		ssize_t n;

		memset(&eb, 0, sizeof(eb));
		eb.max = max_stderr;
		lseek(p->err_fd, 0, SEEK_SET);
		while ((n = read(p->err_fd, chunk, sizeof(chunk))) > 0)
			if (buf_append(&eb, chunk, (size_t)n) < 0)
				break;
		if (buf_finish(&eb) == 0) {
			res->err = (char *)eb.data;
			res->err_len = eb.len;
		} else {
			free(eb.data);
		}
		close_fd(&p->err_fd);
	}
	return rv;
}

void ls_exec_kill(struct ls_proc *p)
{
	struct ls_exec_result res;

	if (p->pid > 0) {
		kill_group(p->pid);
		memset(&res, 0, sizeof(res));
		reap(p->pid, &res);
		p->pid = -1;
	}
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
}
