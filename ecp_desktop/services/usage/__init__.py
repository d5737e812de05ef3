"""Live usage of running machines and their hosts: sampled on the hosts' workers, kept in
bounded ring buffers (numpy), read by the views. Qt-free."""
