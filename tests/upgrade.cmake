# Fleet upgrades (issue 5).
ls_unit_test(test_upgrade_steps coord_core)
