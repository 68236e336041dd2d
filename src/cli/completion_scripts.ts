/**
 * Shell completion scripts. Each asks provctl itself (`provctl __complete -- WORDS`)
 * so completions always match the installed version's commands and flags.
 */
export function completionScript(shell: "bash" | "zsh" | "fish"): string {
  switch (shell) {
    case "bash":
      return `# provctl bash completion: source <(provctl completion bash)
_provctl() {
  local IFS=$'\\n'
  COMPREPLY=($(provctl __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _provctl provctl`;
    case "zsh":
      return `#compdef provctl
# provctl zsh completion: source <(provctl completion zsh)
_provctl() {
  local -a candidates
  candidates=("\${(@f)$(provctl __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _provctl provctl`;
    case "fish":
      return `# provctl fish completion: provctl completion fish | source
complete -c provctl -f -a '(provctl __complete -- (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'`;
  }
}
