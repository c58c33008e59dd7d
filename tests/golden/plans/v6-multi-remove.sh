#!/usr/bin/env bash
# remove node1 from chain mc (create_k8s_config.py remove_node, v6.7.4)
set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top
cd "$(dirname "$0")"  # the paths below are relative to the work dir, where this file is
# 1. the nodes that stay answer at their LoadBalancers; node1 out of the validators (nothing to do when it is not one)
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,node2.example.org:32002 --chain_name mc --wait_synced --peers 1 --timeout 900
{repo}/manage_chain.py remove_validator 0x8794f28e824c7a265c23523ebbe5d369ef947345493288706fb337a3a24f1b73d58b2de0d42ee14c90c70cdc5ef66b70 --rpc 192.0.2.10:30002,node2.example.org:32002 --chain_name mc --admin_dir {work}/0xa5c3c72f7cd23c4d114382e017b9decf79b4cdab --if_needed
# 2. every other node's config Secret without node1 (read at run time), and its NetworkPolicy
kubectl --context r apply -f mc-0.yaml
kubectl --context b apply -f mc-2.yaml
# 3. stop node1 and delete its objects in its cluster
kubectl --context g delete statefulset/mc-1 secret/mc-1-config secret/mc-1-account networkpolicy/mc-1 service/mc-1 service/mc-0 endpointslice/mc-0-peer service/mc-2 --ignore-not-found
# 4. every other node's cluster: the name mc-1 goes
kubectl --context r delete service/mc-1 endpointslice/mc-1-peer --ignore-not-found
kubectl --context b delete service/mc-1 endpointslice/mc-1-peer --ignore-not-found
# 5. delete node1's folder (its chain data) from its claim's storage
# delete cita-cloud/mc/node1 from the storage of the claim pvc-1 by hand
# 6. the chain goes on without node1
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,node2.example.org:32002 --chain_name mc --wait_synced --peers 1 --timeout 900
