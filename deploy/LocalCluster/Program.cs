using Chat.LocalCluster;

// deploy/local-cluster.sh runs this: `up`, `down`, `status`, `stop` and `start` of a whole cluster
// on this machine, kept in one folder. Usage.Text says what each does.
return await Commands.RunAsync(args);
