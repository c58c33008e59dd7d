#!/usr/bin/env bash
# add node3 to chain mc (create_k8s_config.py add_node, v6.7.4)
set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top
cd "$(dirname "$0")"  # the paths below are relative to the work dir, where this file is
# 1. every old node's cluster: the name mc-3 leading to node3's LoadBalancer (192.0.2.40), before any config names it
kubectl --context mc-0 apply -f mc-0.yaml -l app.kubernetes.io/component=peer
kubectl --context mc-1 apply -f mc-1.yaml -l app.kubernetes.io/component=peer
kubectl --context mc-2 apply -f mc-2.yaml -l app.kubernetes.io/component=peer
# 2. node3's claim and folder in its cluster (the copy is skipped once node3 exists)
# before this script: make the claim pvc-3 (create_pvc.py nfs_pvc --nfs_server HOST --nfs_path PATH --pvc_name pvc-3), apply it
# and copy cita-cloud/mc/node3 onto its storage as cita-cloud/mc/node3, owned by 1000:1000
# 3. start node3 in its cluster (its Secrets, Services, the names of the other nodes, its StatefulSet) and wait for it
kubectl --context mc-3 apply -f mc-3.yaml
kubectl --context mc-3 rollout status statefulset/mc-3 --timeout=600s  # its pod runs and is ready
# 4. every old node's config Secret with node3 among its peers (read at run time: nothing restarts)
kubectl --context mc-0 apply -f mc-0.yaml
kubectl --context mc-1 apply -f mc-1.yaml
kubectl --context mc-2 apply -f mc-2.yaml
# 5. wait until every node has re-read its peers (network_zenoh looks every 15 s, once the kubelet has refreshed the Secret) and node3 is at the head
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,[2001:db8::11]:31002,node2.example.org:32002,192.0.2.40:33002 --chain_name mc --wait_synced --peers 3 --timeout 900
# 6. make node3 a validator (its validator key from its folder), and see the chain go on
{repo}/manage_chain.py add_validator 0x3bf9e958f0a87e8a13a2287988c94ecbe0213d68 --node_dir cita-cloud/mc/node3 --node_rpc 192.0.2.40:33002 --rpc 192.0.2.10:30002,[2001:db8::11]:31002,node2.example.org:32002,192.0.2.40:33002 --chain_name mc --admin_dir {work}/0xa5c3c72f7cd23c4d114382e017b9decf79b4cdab --if_needed
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,[2001:db8::11]:31002,node2.example.org:32002,192.0.2.40:33002 --chain_name mc --wait_synced --peers 3 --timeout 900
