# Config loader tests; the deploy/ examples are loaded from the source tree.
ls_unit_test(test_config agent_cfg coord_cfg)
target_compile_definitions(test_config PRIVATE LS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
ls_unit_test(test_config_schema agent_cfg coord_cfg)
target_compile_definitions(test_config_schema PRIVATE LS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
