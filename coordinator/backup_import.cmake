# lockstep backup import (included from coordinator/CMakeLists.txt): a backup
# made by GitLab's own tools (Rake tar, gitlab-backup-cli directory) taken
# into the store as a Lockstep backup. The manifest writer is shared with the
# seal.
target_sources(coord_core PRIVATE backup_manifest.c backup_import.c
	backup_import_src.c backup_import_meta.c coord_import.c)
target_link_libraries(coord_core PUBLIC PkgConfig::YAML PkgConfig::SODIUM)
target_sources(lockstep PRIVATE cli_import.c)
