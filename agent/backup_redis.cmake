# The node's Redis connection (agent.yml redis:), shared by the redis checks
# and the Redis part of a backup.
add_library(agent_redis STATIC ${CMAKE_CURRENT_SOURCE_DIR}/agent_redis.c)
target_include_directories(agent_redis PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_redis PUBLIC agent_cfg PkgConfig::HIREDIS ls_base)

# Redis part of a node's backup (off unless coordinator.yml sets
# backup_redis): the BGSAVE cut, hard-linked RDB, and its compressed copy.
add_library(agent_backup_redis STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/backup_redis.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_redis_copy.c)
target_include_directories(agent_backup_redis PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_backup_redis PUBLIC agent_backup_core agent_cfg agent_redis
	agent_checks PkgConfig::HIREDIS LibArchive::LibArchive ls_store ls_base)
target_link_libraries(lockstep-agent-exec PRIVATE agent_backup_redis agent_redis)
