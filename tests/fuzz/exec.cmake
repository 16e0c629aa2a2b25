# Parsers of lockstep-agent-exec (included from tests/fuzz/CMakeLists.txt).
ls_fuzzer(fuzz_gitlabctl agent_checks)
ls_fuzzer(fuzz_manifestver agent_checks)
ls_fuzzer(fuzz_redisinfo agent_checks)
ls_fuzzer(fuzz_archive_list agent_backup_files)
