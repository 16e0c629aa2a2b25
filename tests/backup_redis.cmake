# Redis BGSAVE cut and RDB copy against private redis-server processes the
# test starts (free port, own directory) and always kills.
ls_unit_test(test_backup_redis agent_backup_redis)
set_tests_properties(test_backup_redis PROPERTIES TIMEOUT 300)
find_program(LS_REDIS_SERVER_FOR_TESTS redis-server PATHS /usr/bin /usr/sbin)
if(LS_REDIS_SERVER_FOR_TESTS)
	target_compile_definitions(test_backup_redis PRIVATE
		LS_REDIS_SERVER="${LS_REDIS_SERVER_FOR_TESTS}")
endif()
