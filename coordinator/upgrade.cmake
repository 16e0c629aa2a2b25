# Fleet upgrades (issue 5): the role-ordered steps of each stop.
target_sources(coord_core PRIVATE
	${CMAKE_CURRENT_LIST_DIR}/upgrade_steps.c
	${CMAKE_CURRENT_LIST_DIR}/upgrade_fleet.c)
target_sources(coord_core PRIVATE
	${CMAKE_CURRENT_LIST_DIR}/coord_upgrade_plan.c
	${CMAKE_CURRENT_LIST_DIR}/coord_upgrade.c
	${CMAKE_CURRENT_LIST_DIR}/coord_upgrade_ops.c)
target_sources(lockstep PRIVATE ${CMAKE_CURRENT_LIST_DIR}/cli_upgrade_plan.c)
# lockstep rollback RUN_ID: a restore of a stop's rollback point that
# takes the touched nodes' packages back first.
target_sources(coord_core PRIVATE ${CMAKE_CURRENT_LIST_DIR}/coord_rollback.c)
target_sources(lockstep PRIVATE ${CMAKE_CURRENT_LIST_DIR}/cli_rollback.c)
# lockstep upgrade plan --format: the plan as a document.
target_sources(lockstep PRIVATE
	${CMAKE_CURRENT_LIST_DIR}/cli_upgrade_doc.c
	${CMAKE_CURRENT_LIST_DIR}/cli_upgrade_doc_render.c)
# GitLab's supported operating systems table (data/supported-os.txt):
# which GitLab versions have packages for each node's OS release.
target_sources(coord_upgrade_path PRIVATE
	${CMAKE_CURRENT_LIST_DIR}/os_support.c)
