/* kubectl and helm JSON (see kube_json.h). */
#include "kube_json.h"

#include <string.h>

json_t *kube_jpath(const json_t *o, const char *path)
{
	json_t *cur = (json_t *)o;
	char key[64];

	while (cur != NULL && *path != '\0') {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
		path += n + (path[n] == '.');
	}
	return cur;
}

const char *kube_jstr(const json_t *o, const char *path)
{
	json_t *v = kube_jpath(o, path);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int kube_jtrue(const json_t *o, const char *path)
{
	json_t *v = kube_jpath(o, path);

	return json_is_true(v) ||
	       (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
}

int kube_pod_ready(const json_t *pod, int *finished)
{
	const char *phase = kube_jstr(pod, "status.phase");
	json_t *conds = kube_jpath(pod, "status.conditions"), *cd;
	size_t i;

	if (finished != NULL)
		*finished = phase != NULL && strcmp(phase, "Succeeded") == 0;
	if (kube_jpath(pod, "metadata.deletionTimestamp") != NULL ||
	    phase == NULL || strcmp(phase, "Running") != 0)
		return 0;
	json_array_foreach(conds, i, cd)
	{
		const char *type = kube_jstr(cd, "type");
		const char *st = kube_jstr(cd, "status");
		if (type != NULL && strcmp(type, "Ready") == 0)
			return st != NULL && strcmp(st, "True") == 0;
	}
	return 0;
}
