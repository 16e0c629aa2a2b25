# Fleet upgrades (issue 5).
ls_unit_test(test_upgrade_steps coord_core)

# The Geo secrets copy: sealed on the primary, opened only on its secondary.
ls_unit_test(test_geo_secrets agent_cfg ls_base ls_store ls_proto
	PkgConfig::JANSSON PkgConfig::SODIUM)
target_sources(test_geo_secrets PRIVATE
	${PROJECT_SOURCE_DIR}/agent/exec_geo_secrets.c
	${PROJECT_SOURCE_DIR}/agent/agent_identity_pb.c)
# GitLab's supported operating systems table, against the shipped data.
ls_unit_test(test_os_support coord_upgrade_path)
target_compile_definitions(test_os_support PRIVATE LS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

# The coordinator's database migrated from schema 3 (drill outcomes).
ls_unit_test(test_db_migrate coord_core)
