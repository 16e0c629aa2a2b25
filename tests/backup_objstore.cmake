# The gitlab.yml object storage reader: enabled, disabled and missing keys,
# the consolidated form, anchors, aliases and merge keys, malformed and
# oversized files.
ls_unit_test(test_backup_objstore agent_backup_objstore)
