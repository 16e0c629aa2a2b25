# GitLab backup metadata (ids, backup_information.yml/.json) and the
# <id>_gitlab_backup.tar export (included from coordinator/CMakeLists.txt).
add_library(coord_backup_meta STATIC backup_meta.c backup_export.c)
target_include_directories(coord_backup_meta PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(coord_backup_meta PUBLIC ls_store ls_base
	PkgConfig::JANSSON LibArchive::LibArchive)
