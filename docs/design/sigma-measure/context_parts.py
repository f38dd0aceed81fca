# Counts, per profile, the context parts (Parent/GrandParent/Ancestor items of one conjunction
# that the profile does not carry inline) of the realdata rules: how many flux tags the
# generated parent/grandparent/ancestor rules need, before and after de-duplication.
import yaml, os, json, re, collections
R=os.environ.get('FLUXCAP_REALDATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../../shared/realdata'))
inline={'sysmon':{'ParentImage','ParentCommandLine','ParentUser'},
        'security-4688':{'ParentImage'},
        'ecs':{'ParentImage','ParentCommandLine','ParentProcessId'}}
ctx=re.compile(r'^(Parent|GrandParent|Grandparent|Ancestor)(.+)$')
for prof,inl in inline.items():
    parts=collections.Counter(); rules=set(); kinds=collections.Counter()
    for base in ['sigma','sigma-regression-extra']:
        for d,_,fs in os.walk(os.path.join(R,base)):
            if 'regression_data' in d: continue
            for f in fs:
                if not f.endswith('.yml'): continue
                doc=yaml.safe_load(open(os.path.join(d,f)))
                if doc['logsource'].get('product')!='windows': continue
                for ident,body in doc['detection'].items():
                    if ident=='condition': continue
                    for m in (body if isinstance(body,list) else [body]):
                        if not isinstance(m,dict): continue
                        by=collections.defaultdict(list)
                        for k,v in m.items():
                            fld=k.split('|')[0]; mo=ctx.match(fld)
                            if mo and fld not in inl:
                                kind=mo.group(1).lower().replace('grandparent','grandparent')
                                by[kind].append((k,json.dumps(v,sort_keys=True)))
                        for kind,items in by.items():
                            parts[(kind,tuple(sorted(items)))]+=1; rules.add(f); kinds[kind]+=1
    print(f"{prof}: rules with carried context {len(rules)}; context parts {sum(parts.values())} "
          f"({dict(kinds)}); distinct after de-duplication {len(parts)}")
