import type { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';

const COMMANDS =
  'login deploy invoke logs ls describe rm versions rollback secret images top completion help';

const BASH = `# floe completion for bash: source <(floe completion bash)
_floe() {
  local cur prev words cword
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${COMMANDS}" -- "$cur") ); return
  fi
  case "\${COMP_WORDS[1]}" in
    secret) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=( $(compgen -W "create update ls rm" -- "$cur") ) ;;
    images) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=( $(compgen -W "ls import pull" -- "$cur") ) ;;
    completion) COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") ) ;;
    invoke|logs|describe|rm|versions|rollback)
      [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=( $(compgen -W "$(floe ls --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).map(f=>f.name).join(" "))}catch{}})')" -- "$cur") ) ;;
    deploy) COMPREPLY=( $(compgen -d -- "$cur") ) ;;
  esac
}
complete -F _floe floe
`;

const ZSH = `#compdef floe
# floe completion for zsh: source <(floe completion zsh)
_floe() {
  local -a cmds
  cmds=(${COMMANDS})
  if (( CURRENT == 2 )); then _describe 'command' cmds; return; fi
  case $words[2] in
    secret) _values 'subcommand' create update ls rm ;;
    images) _values 'subcommand' ls import pull ;;
    completion) _values 'shell' bash zsh ;;
    deploy) _files -/ ;;
  esac
}
compdef _floe floe
`;

export async function completion(ctx: Context, args: string[]): Promise<number> {
  const shell = args[0];
  if (shell === 'bash') ctx.o.out(BASH);
  else if (shell === 'zsh') ctx.o.out(ZSH);
  else throw new UsageError('completion: expected bash or zsh');
  return EXIT.ok;
}
