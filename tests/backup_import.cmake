# lockstep backup import (included from tests/CMakeLists.txt): backups
# assembled with GNU tar and gzip, imported into a scratch store.
ls_unit_test(test_backup_import coord_core PkgConfig::SODIUM)
