# Parsers of lockstep-agent-exec (included from tests/fuzz/CMakeLists.txt).
ls_fuzzer(fuzz_gitlabctl agent_checks)
ls_fuzzer(fuzz_manifestver agent_checks)
ls_fuzzer(fuzz_redisinfo agent_checks)
ls_fuzzer(fuzz_geo_status agent_checks)
ls_fuzzer(fuzz_archive_list agent_backup_files)
# Four files written and a repository read per input: ~150 inputs/s.
set(LS_FUZZ_RUNS_fuzz_refsnap 3000)
ls_fuzzer(fuzz_refsnap agent_backup_repos agent_cfg)
ls_fuzzer(fuzz_objstore agent_backup_objstore)
ls_fuzzer(fuzz_pgrows agent_backup_pg)
# Per input: an archive extracted into a scratch dir and the dir removed.
set(LS_FUZZ_RUNS_fuzz_restore_tar 3000)
ls_fuzzer(fuzz_restore_tar agent_restore_files)
ls_fuzzer(fuzz_repo_manifest agent_restore_repos)
ls_fuzzer(fuzz_restore_listing agent_restore_files)
ls_fuzzer(fuzz_registry_status agent_registry)
# df -Pk in the toolbox pod (KubeRestore's room check).
ls_fuzzer(fuzz_kube_df agent_cfg ls_base)
target_sources(fuzz_kube_df PRIVATE ${CMAKE_SOURCE_DIR}/agent/kube_cmd.c)
target_include_directories(fuzz_kube_df PRIVATE ${CMAKE_SOURCE_DIR}/agent)
