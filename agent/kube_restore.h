/*
 * KubeRestore (issue 9, step 3.4): a fleet backup restored into the GitLab
 * chart through its toolbox pod, in the framed restore child. The backup
 * is exported as <id>_gitlab_backup.tar, copied into the pod with kubectl
 * cp once df says it fits, and restored there by backup-utility --restore
 * -f file://..., whose output lines go out in Progress frames.
 */
#ifndef KUBE_RESTORE_H
#define KUBE_RESTORE_H

#include "exec_restore_int.h"

/* Where the tar goes in the toolbox pod when the operation names no
 * directory: the chart's scratch volume, where backup-utility works. */
#define KUBE_RESTORE_POD_DIR "/srv/gitlab/tmp"
/*
 * Free space asked of the pod, in tar sizes: our copy, backup-utility's
 * own download of it (file:// URLs are fetched into its backups
 * directory as 0_gitlab_backup.tar too) and the unpacked contents (the
 * tar is not compressed, so they are as large again). All three live on
 * the toolbox's one scratch volume at once.
 */
#define KUBE_RESTORE_SPACE_FACTOR 3
/* Lines per Progress frame, and lines (of at most KUBE_RESTORE_TAIL_LINE
 * bytes) kept for output_tail and the error. */
#define KUBE_RESTORE_FRAME_LINES 50
#define KUBE_RESTORE_TAIL_LINES 20
#define KUBE_RESTORE_TAIL_LINE 200

/*
 * Fills x->kres (pod, bytes, ms, output_tail: sent on failure too). An
 * error names the pod, path or value at fault in x->err. The local tar
 * and the copy in the pod are removed whatever happens (the latter best
 * effort, logged).
 */
int xr_kube_restore(struct xr *x, const Ls__KubeRestore *r);

#endif
