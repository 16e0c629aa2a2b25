# GitLab's upgrade path, against the shipped data in the source tree
# (included from tests/CMakeLists.txt).
ls_unit_test(test_upgrade_path coord_upgrade_path)
target_compile_definitions(test_upgrade_path PRIVATE LS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
