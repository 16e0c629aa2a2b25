# gitlab-secrets.json to the chart's Secrets, the manifest, saved state.
ls_unit_test(test_kube_secrets agent_kube_secrets)
