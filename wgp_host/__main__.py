from wgp_host.cli import main

main()
